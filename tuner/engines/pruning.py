"""Exact early stopping for the epochs-to-threshold objective, for either engine."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["FOUND_ELSEWHERE", "ExactThresholdPruner", "exact_stop_reason", "fastest", "fastest_in_study"]

FOUND_ELSEWHERE = "another trial met the stop rule (--stop-when-found)"


def fastest(results: Iterable[tuple[int, dict[str, Any]]]) -> tuple[int, int] | None:
    """(epochs to threshold, trial) of the fastest finished trial that met the stop rule, or None."""
    best: tuple[int, int] | None = None
    for number, result in results:
        if result.get("reached_threshold") and result.get("epochs_to_threshold") is not None:
            candidate = (int(result["epochs_to_threshold"]), number)
            best = candidate if best is None or candidate < best else best
    return best


def fastest_in_study(study: optuna.Study) -> tuple[int, int] | None:
    """`fastest` over the study's complete trials."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return fastest((t.number, t.user_attrs.get("result", {})) for t in done)


def exact_stop_reason(epoch: int, best: tuple[int, int] | None) -> str | None:
    """Why a trial still below the threshold after `epoch` cannot win, or None if it still can.

    Such a trial can at best meet the threshold one epoch later than the best trial did;
    unlike median or Hyperband pruning this never discards a possible winner.
    """
    if best is not None and epoch >= best[0]:
        return f"not at the threshold by epoch {epoch}; trial {best[1]} reached it at epoch {best[0]}"
    return None


class ExactThresholdPruner(optuna.pruners.BasePruner):
    """optuna's face of `exact_stop_reason`; `inner` (median, Hyperband) may prune further."""

    def __init__(self, inner: optuna.pruners.BasePruner | None = None) -> None:
        self.inner = inner
        self.reason: str | None = None

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        self.reason = None
        step = trial.last_step
        if step is None:
            return False
        self.reason = exact_stop_reason(step, fastest_in_study(study))
        if self.reason:
            return True
        if self.inner is not None and self.inner.prune(study, trial):
            self.reason = f"{type(self.inner).__name__.removesuffix('Pruner').lower()} pruner at epoch {step}"
            return True
        return False
