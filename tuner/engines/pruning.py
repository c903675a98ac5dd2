"""Exact early stopping for the epochs-to-threshold objective."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["ExactThresholdPruner"]


class ExactThresholdPruner(optuna.pruners.BasePruner):
    """Prune a trial that has not met the stop rule by the epoch at which the best trial met it.

    Such a trial can at best meet it one epoch later, so it cannot win: unlike median or
    Hyperband pruning this never discards a possible winner. `inner` may prune further.
    """

    def __init__(self, inner: optuna.pruners.BasePruner | None = None) -> None:
        self.inner = inner
        self.reason: str | None = None

    @staticmethod
    def best_epoch(study: optuna.Study) -> tuple[int, int] | None:
        """(epochs to threshold, trial number) of the fastest trial so far, or None."""
        best: tuple[int, int] | None = None
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            result = t.user_attrs.get("result", {})
            if result.get("reached_threshold") and result.get("epochs_to_threshold") is not None:
                candidate = (int(result["epochs_to_threshold"]), t.number)
                best = candidate if best is None or candidate < best else best
        return best

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        self.reason = None
        step = trial.last_step
        if step is None:
            return False
        best = self.best_epoch(study)
        if best is not None and step >= best[0]:
            self.reason = f"not at the threshold by epoch {step}; trial {best[1]} reached it at epoch {best[0]}"
            return True
        if self.inner is not None and self.inner.prune(study, trial):
            self.reason = f"{type(self.inner).__name__.removesuffix('Pruner').lower()} pruner at epoch {step}"
            return True
        return False
