"""Median stopping: a trial worse than the median of complete trials at the same epoch stops."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median

from tuner.pruners.base import Progress, Pruner, intermediate_values
from tuner.records import TrialRecord
from tuner.space import Space

__all__ = ["MedianStop"]


class MedianStop(Pruner):
    """optuna's MedianPruner rule, over the study's records: after `warmup` epochs, once `startup`
    trials are complete, a trial whose best value so far is worse than the median of the complete
    trials' values at this epoch stops."""

    name = "median"
    description = "stop a trial worse than the median of complete trials at the same epoch"

    def __init__(self, space: Space, startup: int = 3, warmup: int = 1) -> None:
        super().__init__(space)
        self.startup, self.warmup = startup, warmup

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        complete = [r for r in finished if r.state == "complete"]
        epoch = trial.epoch
        if len(complete) < self.startup or epoch < self.warmup or not trial.values:
            return None
        best = min(trial.values) if self.minimize else max(trial.values)
        if math.isnan(best):
            return f"median pruner: no value at epoch {epoch}"
        others = [v[epoch - 1] for r in complete if len(v := intermediate_values(self.space, r.history)) >= epoch]
        others = [v for v in others if not math.isnan(v)]
        if not others:
            return None
        middle = median(others)
        worse = best > middle if self.minimize else best < middle
        return f"median pruner at epoch {epoch}: {best:.4g} against a median of {middle:.4g}" if worse else None
