"""A finished (or running) run read back from its folder: the Python face of `cnn-tune report`."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from tuner.data import NAMED, Dataset, load_dataset, recorded_pipeline
from tuner.errors import CnnTuneError
from tuner.reports import RunSummary, leaderboard, summarize
from tuner.runs.store import RunStore
from tuner.space import Space, parse_space
from tuner.space.objectives import VALUES
from tuner.training.architecture import layer_plan, summary_rows

__all__ = ["Run", "find_run", "load_run", "load_study_run", "space_of"]


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
        return space_of(self.record, str(self.path))

    def dataset(self) -> Dataset:
        """The run's data, loaded as the run loaded it (same source, split, seed and limit)."""
        data = self.record.get("dataset", {})
        spec = data.get("spec") or (
            data["name"] if data.get("name") in NAMED else str(data.get("source", "")).split(" (")[0]
        )
        pipeline = recorded_pipeline(self.record.get("identity", {}))
        return load_dataset(spec, train_limit=data.get("train_limit"), **pipeline, **self.space.data_options())

    @cached_property
    def trials(self) -> pd.DataFrame:
        return self.store.trials()

    @cached_property
    def history(self) -> pd.DataFrame:
        return self.store.history()

    @property
    def searched(self) -> list[str]:
        """The searched parameters, as the trials table names them (without `params_`)."""
        return [c.removeprefix("params_") for c in self.trials.columns if c.startswith("params_")]

    def leaderboard(self, top: int | None = None) -> pd.DataFrame:
        return leaderboard(self.trials, self.space.objective, self.space.stop, top)

    def summary(self) -> RunSummary:
        return summarize(self.trials, self.leaderboard(), self.record, str(self.path))

    @property
    def best_config(self) -> dict[str, Any] | None:
        return self.summary().best_config

    def trial_number(self, trial: int | None = None) -> int:
        """`trial` itself if the run has it; None means the best trial (the leaderboard's first)."""
        if trial is None:
            best = self.summary().best_trial
            if best is None:
                raise CnnTuneError(f"{self.path}: no finished trial yet")
            return best
        if not (self.trials["trial"] == trial).any():
            last = int(self.trials["trial"].max()) if len(self.trials) else -1
            raise CnnTuneError(f"{self.path} has no such trial; its trials are 0..{last}", field=f"trial {trial}")
        return trial

    def model_path(self, trial: int) -> Path:
        """Where `reproduce` saves the trial's trained model (and `inspect` looks for it)."""
        return self.path / "trials" / str(trial) / "model.keras"

    def config(self, trial: int) -> dict[str, Any]:
        rows = self.trials[self.trials["trial"] == self.trial_number(trial)]
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


def space_of(record: dict[str, Any], where: str) -> Space:
    """The space a run searched, as run.json records it: the file's text, then --set and --max-epochs."""
    identity = record.get("identity", {})
    space = parse_space(identity.get("space"), source=record.get("space", {}).get("source", where))
    if identity.get("set"):
        space = space.with_values(identity["set"])
    space = space.with_legacy_values(identity.get("values") != VALUES)
    return space.with_max_epochs(identity["max_epochs"]) if identity.get("max_epochs") else space


def find_run(run_ref: str | Path) -> Path:
    """The run folder `run_ref` names: a folder, or a run name under ./reports."""
    path = Path(run_ref)
    if not path.exists() and (Path("reports") / path).exists():
        return Path("reports") / path
    return path


def load_run(path: str | Path) -> Run:
    """Open the run folder `path` (what `cnn-tune run` printed)."""
    return Run(RunStore.open(path))


def load_study_run(storage: str, name: str) -> Run:
    """The run `name` as its shared study in `storage` holds it (every host's trials), written into a
    temporary folder that is removed when the process ends."""
    from tuner.engines.study_reader import read_study  # optuna loads only to read a database

    record, records = read_study(storage, name)
    parent = Path(tempfile.mkdtemp(prefix="cnn-tune-report-"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    store = RunStore(parent / name)
    store.path.mkdir()
    store.write_run(record)
    run = {k: v for k, v in record.items() if k != "identity"}
    store.save_records(records, space_of(record, storage), run)
    return Run(store)
