"""Image folders are decoded once into a memory-mapped cache that every process maps; training reads
them a batch at a time, so a folder larger than memory trains, and runs reproduce."""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_cli import invoke
from test_formats import image_folder

from tuner.data import cache, decode, load_dataset


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = cache.decode_files

    def counted(paths: list[Path], *args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(len(paths))
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(cache, "decode_files", counted)
    return calls


def test_a_folder_is_decoded_once_then_mapped_and_decoded_again_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = image_folder(tmp_path / "pics", split=True)
    calls = counting_decodes(monkeypatch)
    first = cache.load_image_folder(folder)
    again = cache.load_image_folder(folder)
    assert calls == [72] and isinstance(again.x, np.memmap) and again.cached == first.cached
    assert again.fingerprint == first.fingerprint and np.array_equal(np.asarray(first.x), np.asarray(again.x))
    cache.load_image_folder(folder, size=(16, 16))  # another size: another entry
    cache.load_image_folder(folder, color="rgb")  # another colour too
    assert calls == [72, 72, 72] and len([e for e in cache.cache_root().iterdir() if e.is_dir()]) == 3
    image = next((folder / "train" / "coat").iterdir())
    image.write_bytes(next((folder / "train" / "boot").iterdir()).read_bytes())  # a file replaced
    changed = cache.load_image_folder(folder)
    assert calls == [72, 72, 72, 72] and changed.fingerprint != first.fingerprint


def test_a_damaged_cache_entry_is_rebuilt_never_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = image_folder(tmp_path / "pics")
    calls = counting_decodes(monkeypatch)
    first = cache.load_image_folder(folder)
    assert first.cached is not None
    pixels, array = np.asarray(first.x).copy(), first.cached / "x.npy"
    size = array.stat().st_size
    del first
    with open(array, "r+b") as f:
        f.truncate(size - 100)
    truncated = cache.load_image_folder(folder)
    assert len(calls) == 2 and np.array_equal(np.asarray(truncated.x), pixels)
    del truncated
    with open(array, "r+b") as f:  # one byte changed, the size as it was
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    flipped = cache.load_image_folder(folder)
    assert len(calls) == 3 and np.array_equal(np.asarray(flipped.x), pixels)
    (flipped.cached / "meta.json").write_text("{not json")  # an unfinished or broken record
    assert np.array_equal(np.asarray(cache.load_image_folder(folder).x), pixels) and len(calls) == 4


def test_the_cache_off_decodes_into_memory_and_agrees_with_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = str(image_folder(tmp_path / "shoes", per_class=20))
    batched = load_dataset(folder, train_limit=90)
    memory = load_dataset(folder, train_limit=90, images="memory")
    monkeypatch.setenv("CNN_TUNE_CACHE", "off")
    off = load_dataset(folder, train_limit=90, validation_split=0.2)
    assert batched.batched and not memory.batched and off.batched
    assert isinstance(batched.x_train.source, np.memmap) and not isinstance(off.x_train.source, np.memmap)
    assert batched.fingerprint == memory.fingerprint == off.fingerprint
    for part in ("train", "val", "test"):  # the same rows as the copies a run made before held
        assert np.array_equal(np.asarray(getattr(batched, f"x_{part}")), getattr(memory, f"x_{part}"))
        assert np.array_equal(getattr(batched, f"y_{part}"), getattr(memory, f"y_{part}"))
    assert batched.x_train.shape == memory.x_train.shape == (81, 28, 28, 1)
    assert batched.x_train[[5, 1, 5]].tolist() == memory.x_train[[5, 1, 5]].tolist()  # gathered as asked


def test_decoding_on_every_core_gives_the_same_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = image_folder(tmp_path / "pics", per_class=30, rgb=True)
    files = sorted(folder.glob("*/*.png"))
    serial = decode.decode_files(files, "rgb", (20, 24), workers=1)
    monkeypatch.setattr(decode, "SERIAL_SECONDS", 0.0)
    assert np.array_equal(decode.decode_files(files, "rgb", (20, 24), workers=2), serial)
    assert serial.shape == (180, 20, 24, 3)


def _load_in_a_worker(folder: str, root: str, results: Any) -> None:
    os.environ["CNN_TUNE_CACHE"] = root
    images = cache.load_image_folder(Path(folder))
    assert images.cached is not None
    results.put((str(images.cached), (images.cached / "x.npy").stat().st_ino, images.fingerprint))


def test_two_workers_starting_together_build_one_entry(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "pics", per_class=60, size=64, rgb=True)
    root = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_load_in_a_worker, args=(str(folder), str(root), results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    seen = {results.get(timeout=5) for _ in workers}
    assert len(seen) == 1  # the same entry, the same file (not built twice), the same data
    assert [p.name for p in root.iterdir() if p.is_dir()] == [Path(next(iter(seen))[0]).name]


def _stream_under_a_cap(folder: str, root: str, headroom: int, results: Any) -> None:
    os.environ["CNN_TUNE_CACHE"] = root
    data = load_dataset(folder, color="rgb")
    with open("/proc/self/status") as status:
        used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmData:"))
    resource.setrlimit(resource.RLIMIT_DATA, (used + headroom, resource.RLIM_INFINITY))
    total = 0
    for start in range(0, len(data.x_train), 64):  # what training does, a batch at a time
        total += int(data.x_train[np.arange(start, min(start + 64, len(data.x_train)))].sum(dtype=np.int64))
    try:
        np.asarray(data.x_train)
        whole = "fits"
    except MemoryError:
        whole = "does not fit"
    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    results.put((data.x_train.nbytes, total > 0, whole))


def test_a_folder_larger_than_the_memory_cap_is_read_a_batch_at_a_time(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "big", per_class=110, size=96, rgb=True)
    root = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_stream_under_a_cap, args=(str(folder), str(root), 8 << 20, results))
    worker.start()
    worker.join(120)
    assert worker.exitcode == 0
    size, streamed, whole = results.get(timeout=5)
    assert size > 12 << 20 and streamed and whole == "does not fit"


RUN = ["--trials", "1", "--max-epochs", "2", "--set", "filters=16", "-q"]


def test_a_run_on_a_folder_reproduces_and_one_recorded_before_trains_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = image_folder(tmp_path / "pics", per_class=30, split=True)
    args = ["run", "--space", "exercise3", "--dataset", str(folder), "--out", str(tmp_path / "runs")]
    result = invoke(*args, *RUN)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "exercise3-optuna-cost-tpe"
    identity = json.loads((run / "run.json").read_text())["identity"]
    assert identity["images"] == "batched" and identity["pixels"] == "uint8"
    reproduced = invoke("reproduce", str(run))
    assert "reproduced: every figure within 1e-06 of the record" in reproduced.output, reproduced.output
    inspected = invoke("inspect", str(run), "--images", "0,5", "--output", str(tmp_path / "maps.png"))
    assert inspected.exit_code == 0 and (tmp_path / "maps.png").stat().st_size > 0, inspected.output

    from tuner.search import session

    legacy = tmp_path / "legacy"
    with monkeypatch.context() as old:  # a run made by a cnn-tune that copied the splits into memory
        old.setattr(session, "recorded_pipeline", lambda identity: {"pixels": "uint8", "images": "memory"})
        assert invoke(*args[:-1], str(legacy), *RUN).exit_code == 0
    run = legacy / "exercise3-optuna-cost-tpe"
    assert "images" not in json.loads((run / "run.json").read_text())["identity"]
    resumed = invoke(*args[:-1], str(legacy), "--trials", "2", *RUN[2:])
    assert resumed.exit_code == 0, resumed.output
    assert "images" not in json.loads((run / "run.json").read_text())["identity"]
    assert len(pd.read_csv(run / "trials.csv")) == 2
    reproduced = invoke("reproduce", str(run), "--trial", "0")
    assert "reproduced: every figure within 1e-06 of the record" in reproduced.output, reproduced.output
