"""Exact early stopping for the threshold objectives (epochs or training seconds), for either engine."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner.errors import CnnTuneError
from tuner.space import Space

__all__ = ["FOUND_ELSEWHERE", "ExactStop", "fastest_in_study"]

FOUND_ELSEWHERE = "another trial met the stop rule (--stop-when-found)"


def _fastest(results: Iterable[tuple[int, dict[str, Any]]], key: str) -> tuple[float, int] | None:
    best: tuple[float, int] | None = None
    for number, result in results:
        if result.get("reached_threshold") and result.get(key) is not None:
            candidate = (float(result[key]), number)
            best = candidate if best is None or candidate < best else best
    return best


def fastest_in_study(study: optuna.Study, key: str = "epochs_to_threshold") -> tuple[float, int] | None:
    """(epochs or seconds to threshold, trial) of the study's fastest complete trial that met the stop rule."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return _fastest(((t.number, t.user_attrs.get("result", {})) for t in done), key)


class ExactStop:
    """Stop a trial once it cannot beat the fastest trial that met the stop rule.

    For epochs_to_threshold, a trial still below the threshold after as many epochs as the best
    trial needed can at best meet it one epoch later; for time_to_threshold, one that has trained
    as many seconds as the best trial needed can only meet it later. Unlike median or Hyperband
    pruning this never discards a possible winner.
    """

    def __init__(self, objective: str) -> None:
        self.seconds = objective == "time_to_threshold"
        self.key = "seconds_to_threshold" if self.seconds else "epochs_to_threshold"

    @staticmethod
    def check(space: Space, pruner: str = "exact") -> None:
        """Refuse the exact pruner for an objective that has no threshold to reach."""
        if not space.objective.needs_stop:
            raise CnnTuneError(
                f"pruner {pruner!r} needs a threshold objective (epochs_to_threshold or time_to_threshold); "
                f"space {space.name} optimises {space.objective.name}"
            )

    def fastest(self, results: Iterable[tuple[int, dict[str, Any]]]) -> tuple[float, int] | None:
        """(epochs or seconds to threshold, trial) of the fastest finished trial that met the rule."""
        return _fastest(results, self.key)

    def reason(self, epoch: int, fit_seconds: float, best: tuple[float, int] | None) -> str | None:
        """Why a trial below the threshold after `epoch` epochs and `fit_seconds` cannot win, or None."""
        if best is None:
            return None
        value, trial = best
        if self.seconds and fit_seconds >= value:
            return (
                f"not at the threshold after {fit_seconds:.1f} s of training; trial {trial} reached it in {value:.1f} s"
            )
        if not self.seconds and epoch >= value:
            return f"not at the threshold by epoch {epoch}; trial {trial} reached it at epoch {value:.0f}"
        return None
