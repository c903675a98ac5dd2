"""Curve-bound pruning for threshold objectives: stop a trial once even an optimistic extrapolation
of its stop-metric curve cannot meet the stop rule in time to win.

The stop metric's distance to its perfect value (1 - accuracy, or the loss) falls roughly
exponentially and then slows down, so a straight line through the logarithm of that distance
against the epoch, fitted on every epoch so far, reaches the threshold *earlier* than the trial
really does, and on the learning-rate schedules' bent curves at worst a few percent later
(reports/curve-bound.md: `benchmarks/curve_bound.py` replays every recorded history). The bound is
the line's epoch less a 5% margin for that: when even it comes after the incumbent's epoch (or after
the epoch budget), the trial cannot win.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tuner.pruners.base import Progress, Pruner
from tuner.pruners.exact import fastest, needs_threshold, threshold_key, tie_reason
from tuner.pruners.finished import as_finished
from tuner.records import TrialRecord
from tuner.space import Space
from tuner.space.objectives import epochs_value
from tuner.training.schedules import zero_after

__all__ = ["CurveBound", "earliest_epoch", "finished_value", "predicted_epoch", "ranking_value"]

_MIN_EPOCHS = 3  # a line through fewer points says too little (through two it can come later than the margin)
_LATE = 0.95  # the bound: the line's epoch less 5%, for a line that comes late by a few percent


def _gap(space: Space, value: float) -> float:
    """How far a stop-metric value is from perfect: 1 - accuracy, or the loss itself."""
    assert space.stop is not None
    return 1.0 - value if space.stop.higher_is_better else value


def predicted_epoch(
    space: Space, history: Sequence[dict[str, float]], min_epochs: int = _MIN_EPOCHS, last: int | None = None
) -> float | None:
    """The epoch at which the log-linear fit of the stop metric's distance to perfect (over every
    epoch, or over the `last` few) meets the threshold (math.inf if the curve does not fall); None
    with fewer than `min_epochs` epochs."""
    assert space.stop is not None
    metric = space.stop.metric
    points = [(i + 1, _gap(space, row[metric])) for i, row in enumerate(history) if metric in row]
    if len(points) < min_epochs:
        return None
    points = points[-last:] if last else points
    target = _gap(space, space.stop.threshold)
    if target <= 0:
        return None  # a perfect threshold has no finite log: no bound
    xs = [float(e) for e, _ in points]
    ys = [math.log(max(g, 1e-12)) for _, g in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if slope >= 0:
        return math.inf
    return max(xs[-1], mx + (math.log(target) - my) / slope)


def earliest_epoch(space: Space, history: Sequence[dict[str, float]]) -> float | None:
    """The bound: the earliest epoch a trial can meet the threshold, the line's epoch less the margin
    (None before the line's third epoch)."""
    line = predicted_epoch(space, history)
    return None if line is None else _LATE * line


def finished_value(space: Space, result: dict[str, Any], finished: Callable[[], Sequence[TrialRecord]]) -> float:
    """The objective's value of a trial that trained to its end, for a sampler: a trial that missed the
    threshold is worth `Space.missed_at` plus its shortfall. `finished` gives the study's finished trials,
    asked for only when their seconds per epoch count (the seconds objective)."""

    def paces() -> Iterator[float | None]:
        yield result.get("seconds_per_epoch")
        yield as_finished(finished()).slowest_pace

    return space.objective.value(result, space.stop, space.missed_at(paces()))


def ranking_value(
    space: Space,
    result: dict[str, Any],
    history: Sequence[dict[str, float]],
    finished: Sequence[TrialRecord],
    config: dict[str, Any] | None = None,
) -> float:
    """What a pruned trial of a threshold objective is worth to a sampler: its predicted epochs and
    seconds to the threshold, and always worse than the fastest trial so far. One predicted to miss
    the epoch budget, or whose learning rate reached zero (`config`'s schedule), is worth what a
    complete trial that missed the threshold is worth: trained on, that is what it would have been.

    The prediction is the line through its last two epochs, the curve's recent trend: an estimate,
    not the bound, since a sampler compares it with the epochs complete trials really needed. On
    the recorded histories it comes closer to the real epoch than the bound's line through every
    epoch, and it orders the trials better (reports/curve-bound.md).
    """
    predicted = predicted_epoch(space, history, min_epochs=2, last=2)
    epochs = len(history)
    predicted = float(epochs + 1) if predicted is None else max(predicted, float(epochs + 1))
    frozen = zero_after(config or {})
    if predicted > space.max_epochs() or (frozen is not None and epochs > frozen):
        return finished_value(space, result, lambda: finished)
    key = threshold_key(space)
    per_epoch = sum(row.get("seconds", 0.0) for row in history) / max(epochs, 1)
    best = fastest(finished, key)
    if key == "seconds_to_threshold":
        seconds = predicted * per_epoch
        return round(seconds if best is None else max(seconds, best.value + 0.5), 3)
    # The threshold is met at a whole epoch, no earlier than the line says.
    whole = math.ceil(predicted - 1e-9)
    value = epochs_value(whole, whole * per_epoch)
    if best is not None:
        value = max(value, epochs_value(best.value, best.seconds) + 0.001)
    return round(value, 3)


class CurveBound(Pruner):
    """Stop a trial whose stop-metric curve, extrapolated optimistically, meets the threshold only after
    the fastest trial so far did (or, before any trial met it, only after the last epoch), or at the
    same epoch after more training seconds."""

    name = "curve"
    description = (
        "stop a trial whose curve cannot meet the threshold before the fastest trial did (bound by a log-linear fit)"
    )

    def __init__(self, space: Space) -> None:
        needs_threshold(space, self.name)
        super().__init__(space)
        self.key = threshold_key(space)

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        predicted = earliest_epoch(self.space, trial.history)
        if predicted is None:
            return None
        best = fastest(finished, self.key)
        if self.key == "seconds_to_threshold":
            per_epoch = trial.fit_seconds / max(trial.epoch, 1)
            if best is not None and predicted * per_epoch > best.value:
                return (
                    f"curve bound at epoch {trial.epoch}: reaches the threshold after {predicted * per_epoch:.0f} s "
                    f"at best; trial {best.trial} reached it in {best.value:.1f} s"
                )
            limit = None if best is not None else float(self.space.max_epochs())
        else:
            limit = best.value if best is not None else float(self.space.max_epochs())
        if limit is not None and predicted > limit:
            at_best = "never" if math.isinf(predicted) else f"at epoch {predicted:.1f} at best"
            against = (
                f"trial {best.trial} reached it at epoch {best.value:.0f}"
                if best
                else f"the budget is {limit:.0f} epochs"
            )
            return f"curve bound at epoch {trial.epoch}: reaches the threshold {at_best}; {against}"
        if best is not None and self.key == "epochs_to_threshold":
            return tie_reason(trial, best, predicted, f"curve bound at epoch {trial.epoch} (bound {predicted:.1f})")
        return None
