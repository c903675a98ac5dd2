"""Worker processes: this process is the first worker; the others are spawned and join the run's study."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuner.training.devices import Placement

if TYPE_CHECKING:
    from tuner.engines import TrialRunner
    from tuner.search.settings import SearchSettings

__all__ = ["start_workers"]


def start_workers(
    target: Callable[..., None], settings: SearchSettings, run_trial: TrialRunner | None, placements: list[Placement]
) -> list[Any]:
    """Place this process as the first worker and spawn the others, each running
    `target(settings, run_trial, placement)` (nothing of TensorFlow is inherited)."""
    os.environ.update(placements[0].env)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=target, args=(settings, run_trial, p), name=f"cnn-tune worker {p.index}")
        for p in placements[1:]
    ]
    for process in workers:
        process.start()
    return workers
