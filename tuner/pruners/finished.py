"""The study's finished trials as the pruners and stop rules see them, with what they ask kept up to date.

The loop asks after every epoch of every trial for the incumbent, whether any trial met the stop
rule, the values other trials had at this epoch. Computed from every record each time, that cost
grows with the study; here each answer is a fold over the trials, computed once over the trials
held when it is first asked for and then updated as each trial is added, so asking costs the same
at trial 10,000 as at trial 10. Pruners also accept a plain list (`as_finished` wraps it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar, overload

from tuner.records import TrialRecord

__all__ = ["FINISHED_STATES", "Fastest", "Finished", "as_finished", "fastest"]

FINISHED_STATES = ("complete", "pruned")

S = TypeVar("S")


class Fastest(NamedTuple):
    """The incumbent of a threshold objective: its epochs (or seconds) to the threshold, its training
    seconds to it (what breaks a tie on epochs), and its number."""

    value: float
    seconds: float
    trial: int


def _candidate(record: TrialRecord, key: str) -> Fastest | None:
    result = record.result
    if record.state == "complete" and result.get("reached_threshold") and result.get(key) is not None:
        seconds = result.get("seconds_to_threshold")
        return Fastest(float(result[key]), math.inf if seconds is None else float(seconds), record.trial)
    return None


def _met(record: TrialRecord) -> bool:
    return bool(record.state == "complete" and record.result.get("reached_threshold"))


def _seen_met(seen: bool, record: TrialRecord) -> bool:
    return seen or _met(record)


def _count_complete(count: int, record: TrialRecord) -> int:
    return count + (record.state == "complete")


def _add_epochs(total: int, record: TrialRecord) -> int:
    return total + int(record.result.get("epochs_run") or 0)


def _faster(key: str) -> Callable[[Fastest | None, TrialRecord], Fastest | None]:
    def step(best: Fastest | None, record: TrialRecord) -> Fastest | None:
        candidate = _candidate(record, key)
        return candidate if candidate is not None and (best is None or candidate < best) else best

    return step


class Finished(Sequence[TrialRecord]):
    """The study's complete and pruned trials (every worker's), in the order they were added; a
    record is added once (by trial number), whichever worker reports it first."""

    def __init__(self, records: Iterable[TrialRecord] = ()) -> None:
        self._records: list[TrialRecord] = []
        self._numbers: set[int] = set()
        self._folds: dict[Hashable, list[Any]] = {}  # key -> [state, step]
        self.extend(records)

    def add(self, record: TrialRecord) -> bool:
        """Hold `record` if it is finished and new; True when it was added."""
        if record.state not in FINISHED_STATES or record.trial in self._numbers:
            return False
        self._records.append(record)
        self._numbers.add(record.trial)
        for fold in self._folds.values():
            fold[0] = fold[1](fold[0], record)
        return True

    def holds(self, number: int) -> bool:
        """Whether trial `number` is among the finished trials held."""
        return number in self._numbers

    def extend(self, records: Iterable[TrialRecord]) -> None:
        for record in records:
            self.add(record)

    def fold(self, key: Hashable, start: Callable[[], S], step: Callable[[S, TrialRecord], S]) -> S:
        """The value of `step` folded over every trial held, from `start()`: computed over the trials
        held the first time `key` is asked for, then brought up to date as each trial is added. `step`
        may update its state in place and return it."""
        if key not in self._folds:
            state = start()
            for record in self._records:
                state = step(state, record)
            self._folds[key] = [state, step]
        value: S = self._folds[key][0]
        return value

    def fastest(self, key: str = "epochs_to_threshold") -> Fastest | None:
        return self.fold(("fastest", key), lambda: None, _faster(key))

    @property
    def found(self) -> bool:
        """Whether some trial met the stop rule."""
        return self.fold("found", lambda: False, _seen_met)

    @property
    def complete(self) -> int:
        return self.fold("complete", lambda: 0, _count_complete)

    @property
    def epochs(self) -> int:
        """The epochs the trials held trained, in all."""
        return self.fold("epochs", lambda: 0, _add_epochs)

    @property
    def slowest_pace(self) -> float | None:
        """The largest seconds per epoch of a trial held (None before any)."""

        def step(slowest: float | None, record: TrialRecord) -> float | None:
            pace = record.result.get("seconds_per_epoch")
            return slowest if not pace or pace <= 0 or (slowest is not None and slowest >= pace) else float(pace)

        return self.fold("slowest_pace", lambda: None, step)

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> TrialRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[TrialRecord]: ...

    def __getitem__(self, index: int | slice) -> TrialRecord | list[TrialRecord]:
        return self._records[index]

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(self._records)


def as_finished(records: Sequence[TrialRecord]) -> Finished:
    """`records` as a `Finished` (the loop's own, kept up to date; a list is wrapped once)."""
    return records if isinstance(records, Finished) else Finished(records)


def fastest(records: Iterable[TrialRecord], key: str = "epochs_to_threshold") -> Fastest | None:
    """The fastest complete trial that met the stop rule: fewest epochs (or seconds), then fewest seconds."""
    if isinstance(records, Finished):
        return records.fastest(key)
    best: Fastest | None = None
    step = _faster(key)
    for record in records:
        best = step(best, record)
    return best
