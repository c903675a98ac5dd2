"""A run as it is now, read without writing anything: what `cnn-tune watch` shows every few seconds.

The trials come from the run's optuna study when there is one (its journal file in the run folder, or
the database of a shared study), so the running trials show the epoch they are at; a keras-tuner run
shows its tables, rewritten after every trial. Nothing is locked or written: a journal file is only
read, and a database only queried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tuner.errors import CnnTuneError
from tuner.reports.tables import RunSummary, leaderboard, summarize, trials_frame
from tuner.runs.reader import find_run, space_of
from tuner.runs.store import RunStore
from tuner.search.eta import format_left, study_time_left

__all__ = ["Snapshot", "Watcher", "snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """The run now: its summary, its leaderboard so far, the trials running (with the epoch each is
    at), how many finished trials it asks for, and whether the search is over."""

    summary: RunSummary
    board: pd.DataFrame
    running: pd.DataFrame
    target: int
    ended: bool
    searched: list[str]
    live: bool = True  # the running trials are known (an optuna study), not only the finished ones
    left: float | None = None  # the estimate of the seconds the search still needs (`tuner.search.eta`)

    def headline(self) -> str:
        s = self.summary
        state = "ended" if self.ended else f"{len(self.running)} running" if self.live else "in progress"
        best = "" if s.best_trial is None else f"; best so far trial {s.best_trial}"
        if s.best_epochs_to_threshold is not None:
            best += f" ({s.best_epochs_to_threshold} epochs to {s.stop_rule})"
        left = f", {format_left(self.left)}" if format_left(self.left) else ""
        return (
            f"{s.name}: {s.complete + s.pruned} of {self.target} trials finished, {s.failed} failed, "
            f"{state}{left}{best}"
        )


class Watcher:
    """Looks at one run again and again. The run's study is opened at the first look that needs it and
    kept open: each later look reads only what changed (a journal's new lines, a database's open and
    new trials), so a look costs the same at trial 10,000 as at trial 10."""

    def __init__(self, run_ref: str | Path | None, storage: str | None = None, name: str | None = None) -> None:
        self.run_ref, self.storage, self.name = run_ref, storage, name
        self.readers: dict[tuple[str, str], Any] = {}

    def records(self, url: str, name: str) -> tuple[dict[str, Any], list[Any]]:
        if (url, name) not in self.readers:
            from tuner.engines.study_reader import StudyReader  # optuna loads only for a study

            self.readers[url, name] = StudyReader(url, name)
        record, records = self.readers[url, name].read()
        return record, records

    def look(self) -> Snapshot:
        return snapshot(self.run_ref, self.storage, self.name, self)


def snapshot(
    run_ref: str | Path | None, storage: str | None = None, name: str | None = None, watcher: Watcher | None = None
) -> Snapshot:
    """Read the run (a folder, or `name` in the shared study at `storage`) as it is now; through
    `watcher`, its study as last read, brought up to date."""
    watcher = watcher or Watcher(run_ref, storage, name)
    store: RunStore | None = None
    records: list[Any] | None
    if storage is not None:
        if not (name or run_ref):
            raise CnnTuneError("give the run's name too, with --name RUN", field="storage")
        record, records = watcher.records(storage, str(name or run_ref))
    else:
        if run_ref is None:
            raise CnnTuneError("watch: give a run folder, or --storage URL --name RUN")
        store = RunStore.open(find_run(run_ref))
        record = store.read_run()
        journal = store.path / "study.journal"
        records = None
        # A search that has ended rewrote its tables last: they hold every trial, and nothing runs, so
        # the journal (read from its first line) is read only while the search runs.
        if journal.exists() and not (record.get("ended") and (store.path / "trials.parquet").exists()):
            in_study, records = watcher.records(str(journal), record["name"])
            record = record | ({"deadline": in_study["deadline"]} if "deadline" in in_study else {})
    space = space_of(record, str(storage or run_ref))
    searched = [p.name for p in space.searched]
    if records is not None:
        trials = trials_frame(records, searched)
    else:
        assert store is not None
        try:
            trials = store.trials()
        except CnnTuneError:  # no trial has finished yet
            trials = trials_frame([], searched)
    run = {k: v for k, v in record.items() if k != "identity"}
    board = leaderboard(trials, space.objective, space.stop)
    summary = summarize(trials, board, run)
    running = trials[trials["state"] == "running"]
    running = pd.DataFrame(
        {
            "trial": running["trial"],
            "epoch": running["epochs_run"],
            "started": running["started"],
            **{name: running[f"params_{name}"] for name in searched if f"params_{name}" in running},
        }
    ).reset_index(drop=True)
    target = int(record.get("trials") or space.trials)
    ended = _ended(record, store, summary, target, running)
    left = None
    if not ended:
        rows = zip(trials["state"], trials["started"], trials["finished"], strict=True)
        left = study_time_left(rows, target, int(record.get("workers") or 1), record.get("deadline"))
    return Snapshot(summary, board, running, target, ended, searched, live=records is not None, left=left)


def _ended(record: dict[str, Any], store: RunStore | None, summary: RunSummary, target: int, running: Any) -> bool:
    """Over when nothing runs and: the run folder's run.json says so (a run made before it did:
    nothing running is enough), or, for a shared study read without its folder, the study holds the
    asked trials or its deadline has passed."""
    if len(running):
        return False
    if store is not None:
        return record.get("ended") is not None if "ended" in record else True
    deadline = record.get("deadline")
    finished = summary.complete + summary.pruned
    return finished >= target or (deadline is not None and time.time() > float(deadline))
