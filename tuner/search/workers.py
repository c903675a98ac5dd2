"""Worker processes: this process is the first worker; the others are spawned and join the run's study."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuner.training.devices import Placement

if TYPE_CHECKING:
    from tuner.engines import PackRunner, TrialRunner
    from tuner.search.settings import SearchSettings

__all__ = ["die_with_parent", "start_workers"]

_PR_SET_PDEATHSIG = 1  # Linux prctl: a signal this process gets when its parent ends


def die_with_parent(parent: int, poll_seconds: float = 2.0) -> None:
    """End this worker (with SIGTERM, so it marks its running trial and writes the tables) once the
    process that spawned it is gone: Linux's parent-death signal, and a polling thread elsewhere."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def start_workers(
    target: Callable[..., None],
    settings: SearchSettings,
    run_trial: TrialRunner | PackRunner | None,
    placements: list[Placement],
) -> list[Any]:
    """Spawn the workers after the first (this process, placed by the session), each running
    `target(settings, run_trial, placement, parent_pid)` (nothing of a framework is inherited)."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=target, args=(settings, run_trial, p, os.getpid()), name=f"cnn-tune worker {p.index}")
        for p in placements[1:]
    ]
    for process in workers:
        process.start()
    return workers
