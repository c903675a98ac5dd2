"""What every engine receives and must do: propose configurations, run them, record them."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tuner.errors import CnnTuneError
from tuner.observer import Observer
from tuner.records import TrialRecord, TrialResult
from tuner.space import Space

__all__ = ["Engine", "EpochHook", "SearchJob", "Session", "TrialRunner"]

EpochHook = Callable[[int, dict[str, float]], None]
# (config, seed, on_epoch, say) -> result; the real one is the trainer, tests pass scripted fakes.
TrialRunner = Callable[[dict, int, EpochHook, Callable[[str], None]], TrialResult]


@dataclass
class SearchJob:
    """Everything one search session needs, independent of the engine."""

    space: Space
    run_trial: TrialRunner
    folder: Path
    storage: str | None
    study_name: str
    trials: int
    timeout: float | None
    seed: int
    observer: Observer
    save: Callable[[list[TrialRecord]], None]
    max_consecutive_failures: int = 5
    stop_when_found: bool = False
    sampler_seed: int | None = None  # default: seed
    run_record: dict[str, Any] | None = None  # run.json's record, kept with a shared study


class Session:
    """The rules of one search session, shared by every engine: when to stop starting trials,
    what to do after each one (save the tables, tell the observer, give up after repeated failures)."""

    def __init__(
        self,
        job: SearchJob,
        target: int,
        finished: Callable[[], int],
        records: Callable[[], list[TrialRecord]],
        claimed: Callable[[], int] | None = None,
        found: Callable[[], bool] | None = None,
        recover: Callable[[], None] | None = None,
        poll_seconds: float = 2.0,
        ends_at: float | None = None,
    ) -> None:
        """`claimed` counts finished trials plus those other workers are running (default: finished);
        `found` says whether some trial has met the stop rule (for --stop-when-found); `recover`
        fails and requeues trials whose worker died, while this one waits for the last slots;
        `ends_at` (wall-clock seconds) replaces `job.timeout` when the study sets the deadline."""
        self.job = job
        self.target = target
        self.finished = finished
        self.records = records
        self.claimed = claimed or finished
        self.found = found or (lambda: False)
        self.recover = recover
        self.poll_seconds = poll_seconds
        if ends_at is not None:
            self.deadline: float | None = time.monotonic() + (ends_at - time.time())
        else:
            self.deadline = None if job.timeout is None else time.monotonic() + job.timeout
        self.failures: list[str] = []

    def start(self) -> None:
        self.job.observer.search_started(self.target, self.finished())

    def should_stop(self) -> bool:
        """True when no more trials should start here. While every remaining slot is held by a
        running trial, a worker that can recover dead ones waits: if one of those workers dies,
        its slot is queued again and taken here, so the study still ends with its full count."""
        while True:
            timed_out = self.deadline is not None and time.monotonic() >= self.deadline
            if timed_out or self.abandon() or self.finished() >= self.target:
                return True
            if self.recover is not None:
                self.recover()  # a dead worker's trial goes back to the queue before the next ask
            if self.claimed() < self.target:
                return False
            if self.recover is None:
                return True
            time.sleep(self.poll_seconds)

    def abandon(self) -> bool:
        """With --stop-when-found: some trial met the stop rule, so running trials may stop too."""
        return self.job.stop_when_found and self.found()

    def save(self) -> None:
        self.job.save(self.records())

    def trial_done(self, record: TrialRecord) -> None:
        """Call after the trial's record is stored; raises after too many failures in a row."""
        self.save()
        self.job.observer.trial_finished(record)
        self.failures = [*self.failures, record.fail_reason or ""] if record.state == "failed" else []
        if len(self.failures) >= self.job.max_consecutive_failures:
            raise CnnTuneError(
                f"stopped after {len(self.failures)} trials in a row failed; the last one: {self.failures[-1]}"
            )

    def finish(self) -> None:
        self.job.observer.search_finished()


class Engine(ABC):
    """An optimiser adapter. Subclasses list their algorithms and pruners by name."""

    name: ClassVar[str]
    algorithms: ClassVar[dict[str, str]]
    pruners: ClassVar[dict[str, str]]

    def __init__(self, algorithm: str | None, pruner: str | None) -> None:
        self.algorithm = algorithm or next(iter(self.algorithms))
        if self.algorithm not in self.algorithms:
            raise CnnTuneError(
                f"unknown algorithm {self.algorithm!r} for engine {self.name}; "
                f"choose from: {', '.join(sorted(self.algorithms))}"
            )
        self.pruner = pruner
        if pruner is not None and pruner not in self.pruners:
            raise CnnTuneError(
                f"unknown pruner {pruner!r} for engine {self.name}; choose from: {', '.join(sorted(self.pruners))}"
            )

    def default_pruner(self, space: Space) -> str:
        return "none"

    def storage_label(self, job_folder: Path, storage: str | None) -> str:
        """Where the engine keeps its state, as run.json records it."""
        return storage or str(job_folder)

    def collect(self, job: SearchJob) -> list[TrialRecord]:
        """Every trial of the study as records, without running any (after parallel workers end)."""
        raise NotImplementedError

    @abstractmethod
    def search(self, job: SearchJob) -> list[TrialRecord]:
        """Run trials until the study holds `job.trials` finished ones or time is up; return all records."""
