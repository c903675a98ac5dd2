"""A finished (or running) run read back from its folder: the Python face of `cnn-tune report`."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from tuner.architecture import layer_plan, summary_rows
from tuner.data import NAMED, Dataset, load_dataset
from tuner.errors import CnnTuneError
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

    def dataset(self) -> Dataset:
        """The run's data, loaded as the run loaded it (same source, split, seed and limit)."""
        data = self.record.get("dataset", {})
        spec = data.get("spec") or (
            data["name"] if data.get("name") in NAMED else str(data.get("source", "")).split(" (")[0]
        )
        return load_dataset(spec, train_limit=data.get("train_limit"), **self.space.data_options())

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

    def model_path(self, trial: int) -> Path:
        """Where `reproduce` saves the trial's trained model (and `inspect` looks for it)."""
        return self.path / "trials" / str(trial) / "model.keras"

    def config(self, trial: int) -> dict[str, Any]:
        rows = self.trials[self.trials["trial"] == trial]
        if rows.empty:
            raise CnnTuneError(f"--trial {trial}: {self.path} has no such trial")
        return dict(json.loads(rows.iloc[0]["config"]))

    def model_summary(self, trial: int) -> pd.DataFrame:
        """The trial's model as `model.summary()` shows it, computed from its configuration without training."""
        dataset = self.record.get("dataset", {})
        shape = tuple(dataset.get("input_shape", ()))
        plan = layer_plan(self.config(trial), shape, int(dataset.get("classes", 10)))
        rows = summary_rows(plan)
        rows.append({"layer": "Total params", "output_shape": "", "params": sum(r["params"] for r in rows)})
        return pd.DataFrame(rows)

    # -- plots (matplotlib figures, for notebooks) -------------------------------------------

    def plot_loss(self, top: int = 5) -> Any:
        from tuner.reports import plots

        return plots.plot_loss(plots.curves_data(self.history, self.leaderboard(), top))

    def plot_accuracy(self, top: int = 5) -> Any:
        from tuner.reports import plots

        return plots.plot_accuracy(plots.curves_data(self.history, self.leaderboard(), top))

    def plot_history(self) -> Any:
        from tuner.reports import plots

        return plots.plot_history(plots.history_data(self.trials, self.space.objective), self.space.objective)

    def plot_importance(self) -> Any:
        from tuner.reports import plots

        return plots.plot_importance(plots.importance_data(self.trials, self.space))

    def plot_parallel(self) -> Any:
        from tuner.reports import plots

        return plots.plot_parallel(plots.parallel_data(self.leaderboard(), self.space))

    def plot_feature_maps(
        self, trial: int | None = None, images: tuple[int, ...] = (0, 23, 28), filter_index: int = 1
    ) -> Any:
        from tuner.inspect import feature_maps, plot_feature_maps

        number = int(self.leaderboard().iloc[0]["trial"]) if trial is None else trial
        return plot_feature_maps(feature_maps(self, number, list(images), filter_index))

    def reproduce(self, trial: str | int = "best") -> Any:
        """Retrain a trial from the record alone and compare; see `tuner.reproduce`."""
        from tuner.reproduce import reproduce

        return reproduce(self, trial)


def load_run(path: str | Path) -> Run:
    """Open the run folder `path` (what `cnn-tune run` printed)."""
    return Run(RunStore.open(path))
