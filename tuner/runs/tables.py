"""The run's tables brought up to date from the study's records, without redoing the settled trials.

A finished trial's record does not change, and neither do the study's first trials up to the
first one still running: that settled start is built into typed rows and rendered as CSV once,
and each later save builds and renders only the rest (the running trials, and the finished ones
after the first running one). So a save costs about the same at trial 10,000 as at trial 10, apart
from writing the files. Each file is still written whole (`RunStore.save_tables`), so a reader never
sees half a table. A settled record that differs at a later save (another engine's records, a
resumed study) starts the tables over from every record, and so does a column the settled rows do
not have (a hyperparameter or a log first seen in a later trial), at each save until a trial that
has it settles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from tuner.records import TrialRecord
from tuner.reports.tables import history_frame, trials_frame

__all__ = ["SETTLED_STATES", "TableCache"]

SETTLED_STATES = frozenset({"complete", "pruned", "failed"})


def _signature(frame: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    return tuple((str(c), str(t)) for c, t in frame.dtypes.items())


class _Rebuild(Exception):
    """The new rows have other columns than the settled ones (a new hyperparameter, a new log)."""


@dataclass
class _Table:
    """One table's settled rows: typed, and rendered as CSV lines (without the header)."""

    build: Callable[[list[TrialRecord]], pd.DataFrame]
    rows: pd.DataFrame | None = None
    csv: str = ""
    signature: tuple[tuple[str, str], ...] = ()

    def update(self, settled: list[TrialRecord], rest: list[TrialRecord]) -> tuple[pd.DataFrame, str]:
        """The whole table and its CSV text: the settled rows, then `settled` (the newly settled
        records), then `rest`, each after the other by trial number."""
        kept, new, tail = self.rows, self.build(settled), self.build(rest)
        if kept is not None:
            known = list(kept.columns)
            if any(c not in known for c in (*new.columns, *tail.columns)):
                raise _Rebuild
            new, tail = new.reindex(columns=known), tail.reindex(columns=known)
        # The settled rows are typed as a build of the settled records alone would type them, and the
        # whole table as one build of every record: a part whose column is all None is of type
        # object, and joined to the others' numbers the column is of numbers.
        rows = _joined([kept, new])
        whole = _joined([rows, tail])
        assert whole is not None  # the tail is a frame, if an empty one
        count = len(rows) if rows is not None else 0
        if _signature(whole) != self.signature:
            self.csv = ""  # a column's type changed: render every settled row again
            done = 0
        else:
            done = 0 if kept is None else len(kept)
        if count > done:
            self.csv += whole.iloc[done:count].to_csv(index=False, header=False)
        self.rows, self.signature = rows, _signature(whole)
        header = whole.iloc[:0].to_csv(index=False)
        return whole, header + self.csv + whole.iloc[count:].to_csv(index=False, header=False)


def _joined(parts: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    """The frames one after the other, typed as one frame of all their rows; None for none."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    filled = [p for p in present if len(p)]
    if len(filled) <= 1:
        return filled[0] if filled else present[-1]
    return pd.concat(filled, ignore_index=True).infer_objects()


@dataclass
class TableCache:
    """The trials and history tables of one run, kept between saves of one process."""

    params: list[str]

    def __post_init__(self) -> None:
        self.searched = list(self.params)  # the space's, first; others in the order trials name them
        self.rebuilds = 0  # how often every record was built again (a new column; a changed record)
        self.reset()

    def reset(self) -> None:
        self.keys: list[tuple[int, str, str | None]] = []  # the settled records' number, state, end
        self.trials = _Table(lambda records: trials_frame(records, self.params))
        self.history = _Table(history_frame)

    def tables(self, records: list[TrialRecord]) -> tuple[pd.DataFrame, str, pd.DataFrame, str]:
        """The trials table and its CSV text, the history table and its CSV text, of `records`."""
        records = sorted(records, key=lambda r: r.trial)
        if [(r.trial, r.state, r.finished) for r in records[: len(self.keys)]] != self.keys:
            self.rebuild(records)
        try:
            return self._update(records)
        except _Rebuild:
            self.rebuild(records)
            return self._update(records)

    def rebuild(self, records: list[TrialRecord]) -> None:
        """Start again from every record, the hyperparameters' columns in the order a build of them
        all would give (the space's, then the others as trials first name them)."""
        self.rebuilds += 1
        self.params = list(self.searched)
        for record in records:
            self.params += [name for name in record.params if name not in self.params]
        self.reset()

    def _update(self, records: list[TrialRecord]) -> tuple[pd.DataFrame, str, pd.DataFrame, str]:
        start = end = len(self.keys)
        while end < len(records) and records[end].state in SETTLED_STATES:
            end += 1
        settled, rest = records[start:end], records[end:]
        for record in (*settled, *rest):  # a hyperparameter first seen now takes its column after the others
            self.params += [name for name in record.params if name not in self.params]
        trials, trials_csv = self.trials.update(settled, rest)
        history, history_csv = self.history.update(settled, rest)
        self.keys += [(r.trial, r.state, r.finished) for r in settled]
        return trials, trials_csv, history, history_csv
