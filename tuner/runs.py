"""A finished (or running) run read back from its folder: the Python face of `cnn-tune report`."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from tuner.reports import RunSummary, leaderboard, summarize
from tuner.space import Space, parse_space
from tuner.store import RunStore

__all__ = ["Run", "load_run"]


class Run:
    """Tables and records of one run folder, as DataFrames."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    @property
    def path(self) -> Path:
        return self.store.path

    @cached_property
    def record(self) -> dict[str, Any]:
        return self.store.read_run()

    @cached_property
    def space(self) -> Space:
        raw = self.record.get("identity", {}).get("space")
        space = parse_space(raw, source=self.record.get("space", {}).get("source", str(self.path)))
        max_epochs = self.record.get("identity", {}).get("max_epochs")
        return space.with_max_epochs(max_epochs) if max_epochs else space

    @cached_property
    def trials(self) -> pd.DataFrame:
        return self.store.trials()

    @cached_property
    def history(self) -> pd.DataFrame:
        return self.store.history()

    def leaderboard(self, top: int | None = None) -> pd.DataFrame:
        return leaderboard(self.trials, self.space.objective, self.space.stop, top)

    def summary(self) -> RunSummary:
        return summarize(self.trials, self.leaderboard(), self.record)

    @property
    def best_config(self) -> dict[str, Any] | None:
        return self.summary().best_config


def load_run(path: str | Path) -> Run:
    """Open the run folder `path` (what `cnn-tune run` printed)."""
    return Run(RunStore.open(path))
