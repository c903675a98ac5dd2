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


# Each backend's own count of the GPUs it can use, asked in a short subprocess so that this process
# loads no framework (a worker's thread share and memory settings must come first).
_PROBES = {
    "tensorflow": "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))",
    "jax": "import jax; print(sum(d.platform == 'gpu' for d in jax.devices()))",
    "torch": "import torch; print(torch.cuda.device_count())",
}
_GPU_BUILDS = {"tensorflow": ("tensorflow",), "jax": ("jax-cuda12-plugin", "jax-cuda13-plugin"), "torch": ("torch",)}


def _installed(*distributions: str) -> bool:
    for name in distributions:
        try:
            importlib.metadata.version(name)
            return True
        except importlib.metadata.PackageNotFoundError:
            continue
    return False


def visible_gpus(backend: str = "tensorflow") -> list[str]:
    """The GPUs `backend` sees, as CUDA device numbers.

    Asked only where an NVIDIA driver and a GPU build of the backend are present (tensorflow-cpu
    and a CPU-only jaxlib have none), in a subprocess with JAX's preallocation off.
    """
    if not (Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidia0").exists()):
        return []
    if backend not in _PROBES or not _installed(*_GPU_BUILDS[backend]):
        return []
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if backend == "jax" and platforms and not {"cuda", "gpu"} & set(platforms.split(",")):
        return []  # the user keeps JAX off the GPU
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBES[backend]], capture_output=True, text=True, env=env, timeout=120
        )
    except subprocess.TimeoutExpired:
        return []
    lines = probe.stdout.strip().splitlines()
    count = int(lines[-1]) if probe.returncode == 0 and lines and lines[-1].isdigit() else 0
    return [str(i) for i in range(count)]


def _check_visible(chosen: tuple[str, ...], visible: list[str]) -> list[str]:
    missing = [g for g in chosen if g not in visible]
    if missing:
        seen = ", ".join(visible) if visible else "none"
        raise CnnTuneError(f"GPU {missing[0]} is not visible to the backend (visible: {seen})", field="gpus")
    return list(chosen)


def _cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def threads_per_worker(workers: int) -> int:
    """Each of `workers` CPU processes gets an equal share of this machine's cores (at least one)."""
    return max(1, len(_cores()) // workers)


def plan_workers(
    gpus: tuple[str, ...] | None, visible: list[str], workers: int | None, trials_per_gpu: int = 1
) -> list[Placement]:
    """One placement per worker: K per chosen GPU (`gpus`; None: every visible one) with GPU memory
    taken as needed (TensorFlow's memory growth, JAX without preallocation), or `workers` CPU
    workers, each with its own share of the cores."""
    if trials_per_gpu < 1:
        raise CnnTuneError(f"must be at least 1, got {trials_per_gpu}", field="trials_per_gpu")
    chosen = visible if gpus is None else _check_visible(gpus, visible)
    if chosen:
        count = workers or len(chosen) * trials_per_gpu
        share = threads_per_worker(count)
        return [
            Placement(
                i + 1,
                {
                    "CUDA_VISIBLE_DEVICES": chosen[(i // trials_per_gpu) % len(chosen)],
                    "CNN_TUNE_MEMORY_GROWTH": "1",
                    **({"CNN_TUNE_THREADS": str(share)} if count > 1 else {}),
                },
            )
            for i in range(count)
        ]
    count = workers or 1
    env = {"CUDA_VISIBLE_DEVICES": "-1"} if visible else {}  # no GPU chosen on a machine with GPUs
    if count == 1:  # one worker keeps the framework's own thread settings
        return [Placement(1, env)]
    cores, share = _cores(), threads_per_worker(count)
    placements = []
    for i in range(count):
        mine = cores[(i * share) % len(cores) :][:share] or cores[:share]
        placements.append(
            Placement(i + 1, {**env, "CNN_TUNE_THREADS": str(share), "CNN_TUNE_CORES": ",".join(map(str, mine))})
        )
    return placements
