"""Exact early stopping for the threshold objectives: stop a trial once it cannot win."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tuner.errors import CnnTuneError
from tuner.pruners.base import Progress, Pruner
from tuner.pruners.finished import Fastest, fastest
from tuner.records import TrialRecord
from tuner.space import Space
from tuner.training.schedules import zero_after

__all__ = ["ExactStop", "Fastest", "fastest", "needs_threshold", "tie_reason"]


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


# A trial's epochs vary by a few percent: an epoch still to go counts as 90% of its fastest so far.
_EPOCH_MARGIN = 0.9


def tie_reason(trial: Progress, best: Fastest, earliest: float, how: str) -> str | None:
    """Why a trial that meets the rule at `earliest` epochs at best stops: it can at best tie the
    incumbent's epochs, and the seconds it has trained plus 90% of its fastest epoch for each epoch
    still to go already exceed the incumbent's seconds."""
    if not trial.history or math.ceil(earliest - 1e-9) != best.value:
        return None
    fastest_epoch = _EPOCH_MARGIN * min(row.get("seconds", 0.0) for row in trial.history)
    seconds = trial.fit_seconds + fastest_epoch * max(best.value - trial.epoch, 0)
    if seconds <= best.seconds:
        return None
    return (
        f"{how}: meets the threshold at epoch {best.value:.0f} at best, after {seconds:.1f} s of training at least; "
        f"trial {best.trial} met it at epoch {best.value:.0f} in {best.seconds:.1f} s"
    )


class ExactStop(Pruner):
    """Stop a trial once it cannot beat the fastest trial that met the stop rule.

    For epochs_to_threshold, a trial still below the threshold after as many epochs as the best
    trial needed can at best meet it one epoch later, and one that can at best tie the best trial's
    epochs loses the tie on seconds once it has trained too long; for time_to_threshold, one that has
    trained as many seconds as the best trial needed can only meet it later. Unlike median or
    Hyperband pruning this never discards a possible winner (short of a next epoch 10% faster than
    the trial's fastest so far).
    """

    name = "exact"
    description = "stop a trial once it cannot beat the fastest to the threshold (never drops a possible winner)"

    def __init__(self, space: Space) -> None:
        needs_threshold(space, self.name)
        super().__init__(space)
        self.key = threshold_key(space)
        self.seconds = self.key == "seconds_to_threshold"

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        frozen = zero_after(trial.config)
        if frozen is not None and trial.epoch > frozen:
            return (
                f"not at the threshold by epoch {trial.epoch}: the learning rate reached zero after epoch {frozen}, "
                "so the weights no longer change"
            )
        best = fastest(finished, self.key)
        if best is None:
            return None
        if self.seconds:
            if trial.fit_seconds < best.value:
                return None
            return (
                f"not at the threshold after {trial.fit_seconds:.1f} s of training; "
                f"trial {best.trial} reached it in {best.value:.1f} s"
            )
        behind = f"not at the threshold by epoch {trial.epoch}"
        if trial.epoch >= best.value:
            return f"{behind}; trial {best.trial} reached it at epoch {best.value:.0f}"
        return tie_reason(trial, best, trial.epoch + 1, behind)
