"""What a pruner sees of a running trial, what it answers, and how pruners compose."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tuner.records import TrialRecord
from tuner.space import Space

__all__ = ["Chain", "NoPruner", "Progress", "Pruner", "intermediate_values"]


@dataclass
class Progress:
    """A running trial after its latest epoch: `values[i]` is the objective's intermediate value
    after epoch i + 1 (in the study's direction), `history` the epoch rows as the trainer logged them,
    `config` the configuration it trains."""

    number: int
    values: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        return len(self.values)

    @property
    def fit_seconds(self) -> float:
        return sum(row.get("seconds", 0.0) for row in self.history)


def intermediate_values(space: Space, history: Sequence[dict[str, float]]) -> list[float]:
    """The objective's per-epoch values of a recorded history (what a pruner compares at each epoch)."""
    values: list[float] = []
    for row in history:
        values.append(space.objective.intermediate(row, space.stop, values[-1] if values else None))
    return values


class Pruner(ABC):
    """Decides after each epoch whether a trial should stop: a reason, or None to go on.

    `finished` holds the study's complete and pruned trials (every worker's), oldest first.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, space: Space) -> None:
        self.space = space
        self.minimize = space.objective.direction == "minimize"

    @abstractmethod
    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        """Why `trial` should stop now, or None."""

    def measured_on(self, validation_rows: int) -> Pruner:
        """The pruner for a dataset of `validation_rows` validation images (a rule that weighs a
        validation metric's sampling noise needs them); itself for the others."""
        return self

    def __str__(self) -> str:
        return self.name


class NoPruner(Pruner):
    name = "none"
    description = "train every trial to its stop rule or last epoch"

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        return None


class Chain(Pruner):
    """Pruners asked in order; the first reason stops the trial (`exact+median`)."""

    name = "chain"
    description = "several pruners, the first that answers wins"

    def __init__(self, space: Space, pruners: Sequence[Pruner]) -> None:
        super().__init__(space)
        self.pruners = tuple(pruners)

    def measured_on(self, validation_rows: int) -> Pruner:
        return Chain(self.space, [p.measured_on(validation_rows) for p in self.pruners])

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        for pruner in self.pruners:
            found = pruner.reason(trial, finished)
            if found:
                return found
        return None

    def __str__(self) -> str:
        return "+".join(str(p) for p in self.pruners)
