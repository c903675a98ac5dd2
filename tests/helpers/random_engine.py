"""A third engine in one small file: plain seeded random proposals, records kept in memory.

It proves the engine interface is small: the shared trial loop does the rest (budget, pruning,
failures, tables). The tests register it under the name `plain-random`.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from tuner.engines import Engine, Proposal, Study
from tuner.records import TrialRecord, trial_seed


class PlainRandom(Engine):
    name = "plain-random"
    algorithms: ClassVar[dict[str, str]] = {"uniform": "each searched parameter drawn uniformly"}

    def open(self, study: Study) -> None:
        self.study = study
        self.rng = random.Random(study.seed)
        self.book: list[TrialRecord] = []
        self.start = list(study.space.start)

    def draw(self) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.start.pop(0)) if self.start else {}
        for p in self.study.space.searched:
            if p.name in values:
                continue
            choices = p.values()
            if choices is not None:
                values[p.name] = self.rng.choice(choices)
            else:
                values[p.name] = self.rng.uniform(float(p.low), float(p.high))
        return values

    def ask(self) -> Proposal | None:
        number = len(self.book)
        sampled = self.draw()
        config = self.study.space.resolve(sampled)
        params = {k: v for k, v in sampled.items() if k in config}
        self.book.append(TrialRecord(number, "running", params, config, trial_seed(self.study.seed, number)))
        return Proposal(number, params, config, trial_seed(self.study.seed, number))

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        self.book[proposal.number] = record

    def records(self) -> list[TrialRecord]:
        return list(self.book)
