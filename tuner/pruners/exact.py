"""Exact early stopping for the threshold objectives: stop a trial once it cannot win."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tuner.errors import CnnTuneError
from tuner.pruners.base import Progress, Pruner
from tuner.records import TrialRecord
from tuner.space import Space

__all__ = ["ExactStop", "fastest", "needs_threshold"]


def needs_threshold(space: Space, pruner: str) -> None:
    """Refuse a pruner that measures distance to the threshold for an objective that has none."""
    if not space.objective.needs_stop:
        raise CnnTuneError(
            f"{pruner!r} needs a threshold objective (epochs_to_threshold or time_to_threshold); "
            f"space {space.name} optimises {space.objective.name}",
            field="pruner",
        )


def threshold_key(space: Space) -> str:
    """The result field a threshold objective ranks by: epochs or training seconds to the threshold."""
    return "seconds_to_threshold" if space.objective.name == "time_to_threshold" else "epochs_to_threshold"


def fastest(records: Iterable[TrialRecord], key: str = "epochs_to_threshold") -> tuple[float, int] | None:
    """(epochs or seconds to threshold, trial) of the fastest complete trial that met the stop rule."""
    best: tuple[float, int] | None = None
    for record in records:
        result = record.result
        if record.state == "complete" and result.get("reached_threshold") and result.get(key) is not None:
            candidate = (float(result[key]), record.trial)
            best = candidate if best is None or candidate < best else best
    return best


class ExactStop(Pruner):
    """Stop a trial once it cannot beat the fastest trial that met the stop rule.

    For epochs_to_threshold, a trial still below the threshold after as many epochs as the best
    trial needed can at best meet it one epoch later; for time_to_threshold, one that has trained
    as many seconds as the best trial needed can only meet it later. Unlike median or Hyperband
    pruning this never discards a possible winner.
    """

    name = "exact"
    description = "stop a trial once it cannot beat the fastest to the threshold (never drops a possible winner)"

    def __init__(self, space: Space) -> None:
        needs_threshold(space, self.name)
        super().__init__(space)
        self.key = threshold_key(space)
        self.seconds = self.key == "seconds_to_threshold"

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        best = fastest(finished, self.key)
        if best is None:
            return None
        value, number = best
        if self.seconds and trial.fit_seconds >= value:
            return (
                f"not at the threshold after {trial.fit_seconds:.1f} s of training; "
                f"trial {number} reached it in {value:.1f} s"
            )
        if not self.seconds and trial.epoch >= value:
            return f"not at the threshold by epoch {trial.epoch}; trial {number} reached it at epoch {value:.0f}"
        return None
