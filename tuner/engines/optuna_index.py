"""A cnn-tune study's trials as the engine last read them, kept up to date by reading only what changed.

The loop asks the engine, for every trial and several times per trial, how many trials are
finished, which are running, which configurations the study holds, and for the records. Listing
every trial of the study for each of those questions costs more the longer the search runs. Here a
trial is read again only while it can still change (waiting or running); once it has finished its
record, state and configuration key are kept. On a journal file only the new journal lines and the
open trials are read (`tuner.engines.private.journal_trials`); on a database, optuna's cached
storage fetches only what changed and the index walks the new and open trials of its list.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.engines.optuna_records import SURPLUS_ATTR, to_record
from tuner.engines.private import journal_trials
from tuner.records import TrialRecord

__all__ = ["COALESCE_SECONDS", "DATABASE_COALESCE_SECONDS", "HELD", "TrialIndex", "config_key"]

HELD = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # configurations not proposed again
# Questions asked within this long of a look share it. A journal file's look reads its new lines only;
# a database's is a query of the open and new trials, several statements, so it is kept for longer:
# other workers' changes are seen within a tenth of a second, this process's own at once.
COALESCE_SECONDS = 0.005
DATABASE_COALESCE_SECONDS = 0.1


def config_key(config: dict[str, Any]) -> str:
    """A configuration as a comparable text (two trials of one configuration have the same key)."""
    return json.dumps(config, sort_keys=True, default=str)


class TrialIndex:
    """The trials of one study by number: their states, finished records and configuration keys."""

    def __init__(self, study: optuna.Study, storage: Any, coalesce: float | None = None) -> None:
        self.study, self.storage = study, storage
        self.study_id = storage.get_study_id_from_name(study.study_name)
        self.seen = 0  # trials 0 .. seen-1 have been read at least once
        self.open: set[int] = set()  # numbers of the trials read while waiting or running
        self.states: dict[int, TrialState] = {}
        self.latest: dict[int, FrozenTrial] = {}  # the open trials as last read
        self.records: dict[int, TrialRecord] = {}  # finished trials' records (not surplus ones)
        self.keys: dict[int, str] = {}  # configuration keys of the trials that have one
        self.held: Counter[str] = Counter()  # keys of complete, pruned and running trials
        self.counts: Counter[TrialState] = Counter()
        self.looked = -math.inf  # when the last look ended (time.monotonic)
        journal = isinstance(storage, optuna.storages.JournalStorage)
        default = COALESCE_SECONDS if journal else DATABASE_COALESCE_SECONDS
        self.coalesce = default if coalesce is None else coalesce

    def refresh(self) -> None:
        """Read the trials that are new or were still open at the last look. Questions asked within
        `coalesce` seconds of the end of a look (the finished count, then the running trials) share it."""
        if time.monotonic() - self.looked < self.coalesce:
            return
        fresh = journal_trials(self.storage, self.study_id, self.seen, self.open)
        if fresh is None:  # a database: optuna's cached storage reads only what changed remotely
            every = self.study.get_trials(deepcopy=False)
            fresh = [every[n] for n in sorted(self.open) if n < len(every)] + every[self.seen :]
        for trial in fresh:
            self.update(trial)
        self.looked = time.monotonic()

    def changed(self) -> None:
        """This process wrote to the study: the next question reads it again."""
        self.looked = -math.inf

    def update(self, t: FrozenTrial) -> None:
        number, state = t.number, t.state
        was = self.states.get(number)
        self.seen = max(self.seen, number + 1)
        if was is not None:
            self.counts[was] -= 1
            if was in HELD and number in self.keys:
                self.held[self.keys[number]] -= 1
        self.states[number] = state
        self.counts[state] += 1
        if number not in self.keys and t.user_attrs.get("config") is not None:
            self.keys[number] = config_key(t.user_attrs["config"])
        if state in HELD and number in self.keys:
            self.held[self.keys[number]] += 1
        if state.is_finished():
            self.open.discard(number)
            self.latest.pop(number, None)
            if not t.user_attrs.get(SURPLUS_ATTR):
                self.records[number] = to_record(t)
        else:
            self.open.add(number)
            self.latest[number] = t

    # -- what the engine asks -------------------------------------------------------------------

    def finished(self) -> int:
        return self.counts[TrialState.COMPLETE] + self.counts[TrialState.PRUNED]

    def running(self) -> list[int]:
        return sorted(n for n in self.open if self.states[n] == TrialState.RUNNING)

    def running_trials(self) -> list[FrozenTrial]:
        """The running trials as of the last refresh."""
        return [self.latest[n] for n in self.running()]

    def waiting(self) -> int:
        return self.counts[TrialState.WAITING]

    def waiting_trials(self) -> list[FrozenTrial]:
        """The queued trials, oldest first, read again now (`ask` claims the first it can)."""
        self.refresh()
        return [self.latest[n] for n in sorted(self.open) if self.states[n] == TrialState.WAITING]

    def holds(self, key: str) -> bool:
        """Whether a complete, pruned or running trial trains the configuration of `key`."""
        return self.held[key] > 0

    def distinct_held(self) -> int:
        return sum(1 for count in self.held.values() if count > 0)

    def all_records(self) -> list[TrialRecord]:
        """Every trial worth a row, by number: the finished ones as kept, the running ones as of the last
        refresh; not the waiting ones, nor the surplus ones given back unrun."""
        rows = []
        for number in range(self.seen):
            record = self.records.get(number)
            if record is not None:
                rows.append(record)
            elif self.states.get(number) == TrialState.RUNNING:
                rows.append(to_record(self.latest[number]))
        return rows
