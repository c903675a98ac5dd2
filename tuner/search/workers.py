"""Worker processes: this process is the first worker; the others are spawned and join the run's study."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tuner.errors import raise_terminated
from tuner.training.devices import Placement

if TYPE_CHECKING:
    from tuner.engines import TrialRunner
    from tuner.search.settings import SearchSettings

__all__ = ["start_workers"]


def _worker(settings: SearchSettings, run_trial: TrialRunner | None, placement: Placement) -> None:
    """A spawned worker: joins the run and runs trials until the study-wide count or time is reached."""
    os.environ.update(placement.env)
    signal.signal(signal.SIGTERM, raise_terminated)
    from tuner.cli.progress import WorkerLines
    from tuner.search.session import run_search

    run_search(replace(settings, workers=1, gpus=()), WorkerLines(placement.index), run_trial, worker=placement.index)


def start_workers(settings: SearchSettings, run_trial: TrialRunner | None, placements: list[Placement]) -> list[Any]:
    """Place this process as the first worker and spawn the others (nothing of TensorFlow is inherited)."""
    os.environ.update(placements[0].env)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(settings, run_trial, p), name=f"cnn-tune worker {p.index}")
        for p in placements[1:]
    ]
    for process in workers:
        process.start()
    return workers
