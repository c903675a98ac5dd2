"""An epoch budget before any trial meets the stop rule: a quarter of the epochs at first (at least 3),
doubled after every few trials that missed it.

`exact` and the curve bound prune against the fastest trial that met the stop rule; before there is
one they have nothing to prune against (the curve bound only against the last epoch), so a search
whose first proposals are slow learners trains each of them for most of the space's epochs before it
learns anything, and its random start-up trials can take most of a short search's time (the search
benchmark's runs in reports/benchmarks-history.md). The ladder asks the cheap question first, as
Hyperband does: is there a configuration that meets the rule within a quarter of the epochs? A trial
that cannot (past the budget, or whose curve bound already says so) stops there, and its predicted
epochs still rank it for the sampler. After `RUNG` trials have missed a budget it doubles, up to the
space's epochs, so a space whose answers all need many epochs costs a few short trials, not the
search.

Unlike `exact` and `curve` this is a heuristic: it gives up trials that would have met the rule
late, to find one that meets it early sooner. Once a trial has met the rule it does nothing, and it
leaves the space's start configurations alone (a new run's first trials, or one run again after an
interruption): they are the user's own questions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tuner.pruners.base import Progress, Pruner
from tuner.pruners.curve import earliest_epoch
from tuner.pruners.exact import fastest, needs_threshold, threshold_key
from tuner.records import TrialRecord
from tuner.space import Space

__all__ = ["Ladder"]

RUNG = 4  # trials that miss a budget before it doubles
FIRST = 3  # the smallest budget: the curve bound's first look, and less says little about a trial


class Ladder(Pruner):
    """Before any trial met the stop rule, stop a trial that cannot meet it within the epoch budget:
    a quarter of the space's epochs (at least `FIRST`), doubled after every `RUNG` finished trials.
    The space's start configurations train on."""

    name = "ladder"
    description = (
        "before any trial meets the threshold, stop trials at an epoch budget that starts at a quarter "
        f"of the epochs (at least {FIRST}) and doubles every {RUNG} trials"
    )

    def __init__(self, space: Space) -> None:
        needs_threshold(space, self.name)
        super().__init__(space)
        self.key = threshold_key(space)
        self.epochs = space.max_epochs()

    def budget(self, missed: int) -> int:
        """The epoch budget after `missed` finished trials, none of which met the stop rule."""
        first = max(FIRST, math.ceil(self.epochs / 4))
        return min(self.epochs, first * 2 ** (missed // RUNG))

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        start = trial.number < len(self.space.start) or self.space.is_start(trial.config)
        if start or fastest(finished, self.key) is not None:
            return None
        budget = self.budget(len(finished))
        if budget >= self.epochs:
            return None
        why = f"no trial has met it yet, so the budget is {budget} epochs (doubled every {RUNG} trials)"
        if trial.epoch >= budget:
            return f"not at the threshold by epoch {trial.epoch}; {why}"
        earliest = earliest_epoch(self.space, trial.history)
        if earliest is not None and earliest > budget:
            at_best = "never" if math.isinf(earliest) else f"at epoch {earliest:.1f} at best"
            return f"curve bound at epoch {trial.epoch}: reaches the threshold {at_best}; {why}"
        return None
