"""Hyperband over epochs: brackets of successive halving, each trial in one bracket."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

from tuner.pruners.base import Progress, Pruner, intermediate_values
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

    def _rung_value(self, record: TrialRecord, epoch: int) -> float | None:
        values = intermediate_values(self.space, record.history)
        return values[epoch - 1] if len(values) >= epoch else None

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        bracket, epoch = self.bracket(trial.number), trial.epoch
        rung = 0
        while (step := self.min_epochs * self.factor ** (bracket + rung)) <= epoch:
            if step == epoch:
                value = trial.values[-1]
                if math.isnan(value):
                    return f"hyperband pruner at epoch {epoch}: no value"
                rivals = [
                    v
                    for r in finished
                    if r.trial != trial.number and self.bracket(r.trial) == bracket
                    if (v := self._rung_value(r, step)) is not None and not math.isnan(v)
                ]
                competing = sorted([*rivals, value], reverse=not self.minimize)
                cut = competing[max(len(competing) // self.factor - 1, 0)]
                if (value > cut) if self.minimize else (value < cut):
                    return f"hyperband pruner at epoch {epoch} (bracket {bracket}): not in the best 1/{self.factor}"
            rung += 1
        return None
