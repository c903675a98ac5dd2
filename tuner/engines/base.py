"""What every engine receives and must do: propose configurations, run them, record them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from tuner.errors import CnnTuneError
from tuner.observer import Observer
from tuner.records import TrialRecord, TrialResult
from tuner.space import Space

__all__ = ["Engine", "EpochHook", "SearchJob", "TrialRunner"]

EpochHook = Callable[[int, dict[str, float]], None]
# (config, seed, on_epoch, say) -> result; the real one is the trainer, tests pass scripted fakes.
TrialRunner = Callable[[dict, int, EpochHook, Callable[[str], None]], TrialResult]


@dataclass
class SearchJob:
    """Everything one search session needs, independent of the engine."""

    space: Space
    run_trial: TrialRunner
    storage: str
    study_name: str
    trials: int
    timeout: float | None
    seed: int
    observer: Observer
    save: Callable[[list[TrialRecord]], None]
    max_consecutive_failures: int = 5


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

    @abstractmethod
    def search(self, job: SearchJob) -> list[TrialRecord]:
        """Run trials until the study holds `job.trials` finished ones or time is up; return all records."""
