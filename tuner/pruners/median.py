"""Median stopping: a trial worse than the median of complete trials at the same epoch stops."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from tuner.pruners.base import Progress, Pruner, intermediate_values
from tuner.pruners.finished import as_finished
from tuner.records import TrialRecord
from tuner.space import Space

__all__ = ["MedianStop"]


class MedianStop(Pruner):
    """optuna's MedianPruner rule, over the study's records: after `warmup` epochs, once `startup`
    trials are complete, a trial whose best value so far is worse than the median of the complete
    trials' values at this epoch stops.

    Unlike optuna's, a complete trial that ended before this epoch (it drew fewer epochs, or
    `--patience` ended it) counts with its final value, what it had reached by then. Counting only
    the trials that trained this long compares a trial at a late epoch with the longest, which
    are the best (the others were stopped), and stops trials as good as a typical complete one.

    And on a validation accuracy a trial stops only when it is behind the median by more than the
    accuracy's standard error over the validation images, sqrt(m (1 - m) / n) at the median m: one
    point at 84% over 1,200 images. A smaller difference is what another draw of the validation
    images would move, and stopping on it threw away trials of the best configurations at their
    first epoch (course-cnn in reports/benchmarks.md).
    """

    name = "median"
    description = "stop a trial worse than the median of complete trials at the same epoch"

    def __init__(self, space: Space, startup: int = 3, warmup: int = 1, validation_rows: int | None = None) -> None:
        super().__init__(space)
        self.startup, self.warmup = startup, warmup
        self.epochs = space.max_epochs()
        accuracy = space.objective.name == "val_accuracy"
        self.validation_rows = validation_rows if accuracy else None  # None: no noise margin

    def measured_on(self, validation_rows: int) -> MedianStop:
        return MedianStop(self.space, self.startup, self.warmup, validation_rows)

    def margin(self, middle: float) -> float:
        """How far behind the median a trial may be before it is behind: the standard error of a
        validation accuracy of `middle` (0 without a count of validation images)."""
        if not self.validation_rows or not 0.0 <= middle <= 1.0:
            return 0.0
        return math.sqrt(middle * (1.0 - middle) / self.validation_rows)

    def at_epochs(self, values: dict[int, list[float]], record: TrialRecord) -> dict[int, list[float]]:
        """Add a complete trial's value at each epoch to `values`, each epoch's list kept sorted, and
        its final value at every later epoch of the space."""
        trained = intermediate_values(self.space, record.history) if record.state == "complete" else []
        if not trained:
            return values
        for epoch in range(1, max(len(trained), self.epochs) + 1):
            value = trained[min(epoch, len(trained)) - 1]
            if not math.isnan(value):
                bisect.insort(values.setdefault(epoch, []), value)
        return values

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        seen = as_finished(finished)
        epoch = trial.epoch
        if seen.complete < self.startup or epoch < self.warmup or not trial.values:
            return None
        best = min(trial.values) if self.minimize else max(trial.values)
        if math.isnan(best):
            return f"median pruner: no value at epoch {epoch}"
        others = seen.fold(("median", id(self)), dict, self.at_epochs).get(epoch)
        if not others:
            return None
        half = len(others) // 2
        middle = others[half] if len(others) % 2 else (others[half - 1] + others[half]) / 2
        margin = self.margin(middle)
        worse = best > middle + margin if self.minimize else best < middle - margin
        if not worse:
            return None
        noise = f", less its standard error of {margin:.4f}" if margin else ""
        return f"median pruner at epoch {epoch}: {best:.4g} against a median of {middle:.4g}{noise}"
