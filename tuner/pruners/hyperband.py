"""Hyperband over epochs: brackets of successive halving, each trial in one bracket."""

from __future__ import annotations

import bisect
import math
import zlib
from collections.abc import Iterator, Sequence

from tuner.pruners.base import Progress, Pruner, intermediate_values
from tuner.pruners.finished import as_finished
from tuner.records import TrialRecord
from tuner.space import Space

__all__ = ["Hyperband"]


class Hyperband(Pruner):
    """optuna's HyperbandPruner rule, over the study's records.

    Bracket b checks trials at rungs of `min_epochs * factor ** (b + k)` epochs; at each rung a trial
    goes on only if its value is within the best 1/factor of the trials of its bracket that reached
    the rung. A trial's bracket follows from its number, weighted by each bracket's trial budget.
    """

    name = "hyperband"
    description = "Hyperband over epochs (brackets of successive halving)"

    def __init__(self, space: Space, min_epochs: int = 1, factor: int = 3) -> None:
        super().__init__(space)
        self.min_epochs, self.factor = min_epochs, factor
        brackets = math.floor(math.log(max(space.max_epochs(), 1) / min_epochs, factor)) + 1
        self.budgets = [math.ceil(brackets * factor ** (brackets - 1 - b) / (brackets - b)) for b in range(brackets)]

    def bracket(self, number: int) -> int:
        """The bracket of trial `number` (the same on every worker and after a resume)."""
        n = zlib.crc32(f"{self.space.name}_{number}".encode()) % sum(self.budgets)
        for b, budget in enumerate(self.budgets):
            if n < budget:
                return b
            n -= budget
        return len(self.budgets) - 1

    def rungs(self, bracket: int, epochs: int) -> Iterator[int]:
        """The epochs at which bracket `bracket` checks its trials, up to `epochs`."""
        rung = 0
        while (step := self.min_epochs * self.factor ** (bracket + rung)) <= epochs:
            yield step
            rung += 1

    def at_rungs(
        self, rivals: dict[tuple[int, int], list[float]], record: TrialRecord
    ) -> dict[tuple[int, int], list[float]]:
        """Add a finished trial's value at each rung of its bracket to `rivals`, as sorted keys (the
        value, negated when the study maximises, so that smaller is better in both directions)."""
        bracket = self.bracket(record.trial)
        values = intermediate_values(self.space, record.history)
        for step in self.rungs(bracket, len(values)):
            value = values[step - 1]
            if not math.isnan(value):
                bisect.insort(rivals.setdefault((bracket, step), []), value if self.minimize else -value)
        return rivals

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        bracket, epoch = self.bracket(trial.number), trial.epoch
        if epoch not in self.rungs(bracket, epoch):
            return None
        value = trial.values[-1]
        if math.isnan(value):
            return f"hyperband pruner at epoch {epoch}: no value"
        rivals = as_finished(finished).fold(("hyperband", id(self)), dict, self.at_rungs).get((bracket, epoch), [])
        key = value if self.minimize else -value
        # The cut is the k-th best of the rivals and this trial together (best first).
        k, at = max((len(rivals) + 1) // self.factor - 1, 0), bisect.bisect_left(rivals, key)
        cut = rivals[k] if k < at else key if k == at else rivals[k - 1]
        if key > cut:
            return f"hyperband pruner at epoch {epoch} (bracket {bracket}): not in the best 1/{self.factor}"
        return None
