"""Runs side by side: one row of headline figures per run (the CLI shows a column per run)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from tuner.reports.render import format_value

__all__ = ["compare_frame", "first_reached", "side_by_side"]


def first_reached(trials: pd.DataFrame, within: float = float("inf")) -> tuple[int | None, int | None, float | None]:
    """(trials run, epochs trained, fit seconds spent) up to and including the first trial that met the stop rule
    (in at most `within` epochs)."""
    ordered = trials.sort_values("trial")
    met = ordered["reached_threshold"].fillna(False).astype(bool)
    if within != float("inf"):
        met &= ordered["epochs_to_threshold"].astype(float) <= within
    reached = met.tolist()
    if True not in reached:
        return None, None, None
    upto = ordered.iloc[: reached.index(True) + 1]
    return len(upto), int(upto["epochs_run"].fillna(0).sum()), float(upto["fit_seconds"].fillna(0).sum())


def _params(config_json: str | None, searched: list[str]) -> str:
    if not config_json:
        return "-"
    config = json.loads(config_json)
    return " ".join(f"{k}={format_value(k, config[k])}" for k in searched if k in config)


def compare_frame(runs: list[Any]) -> pd.DataFrame:
    """One row per run: engine, counts, speed to the stop rule, best trial, time spent."""
    rows = []
    for run in runs:
        trials = run.trials
        summary = run.summary()
        board = run.leaderboard()
        searched = run.searched
        best = trials[trials["trial"] == summary.best_trial]
        trials_to_first, epochs_to_first, seconds_to_first = first_reached(trials)
        rows.append(
            {
                "run": summary.name,
                "engine": summary.engine,
                "algorithm": summary.algorithm,
                "pruner": summary.pruner,
                "backend": summary.backend,
                "trials": summary.trials,
                "complete": summary.complete,
                "pruned": summary.pruned,
                "failed": summary.failed,
                "reached_threshold": summary.reached,
                "trials_to_first_reached": trials_to_first,
                "epochs_to_first_reached": epochs_to_first,
                "fit_seconds_to_first_reached": seconds_to_first,
                "best_trial": summary.best_trial,
                "best_value": None if best.empty else best["value"].iloc[0],
                "best_epochs_to_threshold": summary.best_epochs_to_threshold,
                "best_config": _params(None if best.empty else best["config"].iloc[0], searched),
                "best_val_accuracy": summary.best_val_accuracy,
                "best_test_accuracy": summary.best_test_accuracy,
                "total_epochs": summary.total_epochs,
                "fit_seconds": summary.fit_seconds,
                "wall_seconds": summary.elapsed_seconds,
                "leaderboard_size": len(board),
            }
        )
    return pd.DataFrame(rows)


def side_by_side(frame: pd.DataFrame, key: str = "run") -> pd.DataFrame:
    """The frame for display: each value formatted by its column, then a column per `key`."""
    cells = {row[key]: {c: format_value(c, row[c]) for c in frame.columns if c != key} for _, row in frame.iterrows()}
    shown = pd.DataFrame(cells)
    shown.insert(0, "figure", shown.index)
    return shown.reset_index(drop=True)
