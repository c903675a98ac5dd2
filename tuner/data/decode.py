"""Decoding many image files into one uint8 array: on every core when the files would take more
than a couple of seconds on one, with a progress bar on a terminal."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from tuner.data.images import read_image
from tuner.errors import CnnTuneError

__all__ = ["decode_files", "image_shape"]

SERIAL_SECONDS = 2.0  # decoding expected to take longer than this on one core goes to every core
SAMPLE = 16  # files decoded first, on one core, to learn the shape and time an image
BAR_AFTER = 1.0  # a progress bar appears once decoding has taken this long
CHUNK_BYTES = 32 << 20  # the most decoded pixels one worker hands back at a time


def _same_shape(path: Path, array: np.ndarray, first: Path, shape: tuple[int, ...]) -> np.ndarray:
    if array.shape != shape:
        raise CnnTuneError(
            f"{path}: the image is {array.shape[1]}x{array.shape[0]} but {first.name} is "
            f"{shape[1]}x{shape[0]}; set data.image_size in the space to resize them"
        )
    return array


def _decode_chunk(
    paths: Sequence[Path], color: str, size: tuple[int, int] | None, first: Path, shape: tuple[int, ...]
) -> np.ndarray:
    return np.stack([_same_shape(p, read_image(p, color, size), first, shape) for p in paths])


def image_shape(path: Path, color: str, size: tuple[int, int] | None) -> tuple[int, ...]:
    """The shape `path` decodes to: (H, W) in grayscale, (H, W, 3) in RGB."""
    return tuple(read_image(path, color, size).shape)


class _Bar:
    """A rich progress bar on stderr that appears only once the work has taken `BAR_AFTER` seconds,
    and only on a terminal."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.start = total, what, time.monotonic()
        self.bar: Any = None  # rich's Progress, once shown
        self.task: Any = None

    def advance(self, done: int) -> None:
        if self.bar is None:
            if not sys.stderr.isatty() or time.monotonic() - self.start < BAR_AFTER:
                return
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=self.total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def decode_files(
    paths: Sequence[Path],
    color: str,
    size: tuple[int, int] | None,
    out: Callable[[tuple[int, ...]], np.ndarray] | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Every file of `paths` decoded, in order, into `out(shape)` (an array of that shape: a
    memory-mapped file, say) or a new array. Images must all decode to the same shape (resize them
    with `size`). A few files are decoded first to time them; when the rest would take more than
    `SERIAL_SECONDS` on one core, they are decoded in worker processes on every core."""
    if not paths:
        raise CnnTuneError("no image files to decode")
    start = time.monotonic()
    sample = [read_image(p, color, size) for p in paths[:SAMPLE]]
    shape = (len(paths), *sample[0].shape)
    target = out(shape) if out is not None else np.empty(shape, dtype=np.uint8)
    for i, (path, array) in enumerate(zip(paths, sample, strict=False)):
        target[i] = _same_shape(path, array, paths[0], shape[1:])
    rest = len(paths) - len(sample)
    per_image = (time.monotonic() - start) / len(sample)
    workers = workers or os.cpu_count() or 1
    bar = _Bar(len(paths), f"decoding {len(paths):,} images")
    try:
        if rest and (workers < 2 or per_image * rest < SERIAL_SECONDS):
            for i in range(len(sample), len(paths)):
                target[i] = _same_shape(paths[i], read_image(paths[i], color, size), paths[0], shape[1:])
                if i % 64 == 0:
                    bar.advance(i)
        elif rest:
            # Chunks of at most CHUNK_BYTES decoded: a chunk waits in memory until it is copied into
            # `target`, and at most a few per worker are in flight.
            chunk = max(1, min(rest // (workers * 8) or 1, CHUNK_BYTES // max(sample[0].nbytes, 1)))
            starts = iter(range(len(sample), len(paths), chunk))
            done = len(sample)
            # spawn, not fork: the process may hold TensorFlow's threads, which a fork would copy half-way.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:

                def submit(s: int) -> Future[np.ndarray]:
                    return pool.submit(_decode_chunk, paths[s : s + chunk], color, size, paths[0], shape[1:])

                running = {submit(s): s for s in itertools.islice(starts, 2 * workers)}
                while running:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        s = running.pop(future)
                        block = future.result()
                        target[s : s + len(block)] = block
                        done += len(block)
                        del block, future
                        for following in itertools.islice(starts, 1):
                            running[submit(following)] = following
                    bar.advance(done)
    finally:
        bar.close()
    return target
