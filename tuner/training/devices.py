"""Which accelerator each worker uses: one worker per GPU (or K per GPU), or the CPU cores split."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tuner.errors import CnnTuneError

__all__ = ["Placement", "plan_workers", "threads_per_worker", "visible_gpus"]


@dataclass(frozen=True)
class Placement:
    """The environment one worker process starts with."""

    index: int
    env: dict[str, str]

    @property
    def device(self) -> str:
        gpu = self.env.get("CUDA_VISIBLE_DEVICES")
        return "cpu" if gpu in (None, "", "-1") else f"gpu {gpu}"


_PROBE = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"


def visible_gpus() -> list[str]:
    """The GPUs TensorFlow sees, as CUDA device numbers.

    Asked in a short subprocess, and only where an NVIDIA driver and a GPU build of TensorFlow
    are present: this process must not load TensorFlow before its thread share is set.
    """
    if not (Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidia0").exists()):
        return []
    try:
        importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return []  # tensorflow-cpu, or no TensorFlow: no GPU either way
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=120)
    count = int(probe.stdout.strip() or 0) if probe.returncode == 0 else 0
    return [str(i) for i in range(count)]


def _check_visible(chosen: tuple[str, ...], visible: list[str]) -> list[str]:
    missing = [g for g in chosen if g not in visible]
    if missing:
        seen = ", ".join(visible) if visible else "none"
        raise CnnTuneError(f"GPU {missing[0]} is not visible to TensorFlow (visible: {seen})", field="gpus")
    return list(chosen)


def threads_per_worker(workers: int) -> int:
    """Each of `workers` CPU processes gets an equal share of this machine's cores (at least one)."""
    return max(1, (os.cpu_count() or 1) // workers)


def plan_workers(
    gpus: tuple[str, ...] | None, visible: list[str], workers: int | None, trials_per_gpu: int = 1
) -> list[Placement]:
    """One placement per worker: K per chosen GPU (`gpus`; None: every visible one) with memory
    growth on, or `workers` CPU workers with the cores split between them."""
    if trials_per_gpu < 1:
        raise CnnTuneError(f"must be at least 1, got {trials_per_gpu}", field="trials_per_gpu")
    chosen = visible if gpus is None else _check_visible(gpus, visible)
    if chosen:
        count = workers or len(chosen) * trials_per_gpu
        return [
            Placement(
                i + 1,
                {"CUDA_VISIBLE_DEVICES": chosen[(i // trials_per_gpu) % len(chosen)], "CNN_TUNE_MEMORY_GROWTH": "1"},
            )
            for i in range(count)
        ]
    count = workers or 1
    env = {"CUDA_VISIBLE_DEVICES": "-1"} if visible else {}  # no GPU chosen on a machine with GPUs
    if count > 1:  # one worker keeps TensorFlow's own thread settings
        env["CNN_TUNE_THREADS"] = str(threads_per_worker(count))
    return [Placement(i + 1, dict(env)) for i in range(count)]
