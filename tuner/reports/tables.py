"""Report data: pandas DataFrames computed from trial records, before anything is rendered."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tuner.records import RESULT_FIELDS, TrialRecord
from tuner.space.objectives import Objective
from tuner.space.rules import StopRule
from tuner.training.backend import recorded_backend

__all__ = ["RunSummary", "history_frame", "leaderboard", "summarize", "trials_frame"]

_TAIL = ("fail_reason", "seed", "started", "finished", "config")
OVERFITTING = ("train_val_gap", "best_val_epoch", "val_loss_rising")
RISING_EPOCHS = 3


def overfitting(history: list[dict[str, float]]) -> dict[str, Any]:
    """The train-validation accuracy gap at the end, the epoch of lowest validation loss, and whether
    validation loss rose in each of the last RISING_EPOCHS epochs (the course's overfitting sign)."""
    losses = [row["val_loss"] for row in history if row.get("val_loss") is not None]
    last = history[-1] if history else {}
    gap = None
    if last.get("accuracy") is not None and last.get("val_accuracy") is not None:
        gap = last["accuracy"] - last["val_accuracy"]
    tail = losses[-(RISING_EPOCHS + 1) :]
    return {
        "train_val_gap": gap,
        "best_val_epoch": int(losses.index(min(losses))) + 1 if losses else None,
        "val_loss_rising": len(tail) == RISING_EPOCHS + 1 and all(b > a for a, b in itertools.pairwise(tail)),
    }


def trials_frame(records: Iterable[TrialRecord], param_order: list[str] | None = None) -> pd.DataFrame:
    """One row per trial: trial, state, value, params_*, results, fail_reason, seed, times, config (JSON)."""
    rows = []
    names: list[str] = list(param_order or [])
    for record in records:
        for name in record.params:
            if name not in names:
                names.append(name)
        row: dict[str, Any] = {"trial": record.trial, "state": record.state, "value": record.value}
        row |= {f"params_{k}": v for k, v in record.params.items()}
        row |= {k: record.result.get(k) for k in RESULT_FIELDS}
        row |= overfitting(record.history)
        row |= {
            "fail_reason": record.fail_reason,
            "seed": record.seed,
            "started": record.started,
            "finished": record.finished,
            "config": json.dumps(record.config, sort_keys=True),
        }
        rows.append(row)
    columns = ["trial", "state", "value", *(f"params_{n}" for n in names), *RESULT_FIELDS, *OVERFITTING, *_TAIL]
    frame = pd.DataFrame(rows, columns=columns)
    frame["reached_threshold"] = frame["reached_threshold"].astype("boolean")
    frame["val_loss_rising"] = frame["val_loss_rising"].astype("boolean")
    for column in (
        "trial",
        "epochs_run",
        "epochs_to_threshold",
        "conv_layers",
        "pool_layers",
        "param_count",
        "seed",
        "best_val_epoch",
    ):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame.sort_values("trial", ignore_index=True)


def history_frame(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial per epoch: trial, epoch, loss, accuracy, val_loss, val_accuracy, learning_rate, seconds."""
    rows = [{"trial": r.trial, **epoch} for r in records for epoch in r.history]
    columns = ["trial", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
    frame = pd.DataFrame(rows)
    for column in columns:
        if column not in frame:
            frame[column] = pd.Series(dtype="float64")
    extra = [c for c in frame.columns if c not in columns]
    frame = frame[columns + extra]
    frame[["trial", "epoch"]] = frame[["trial", "epoch"]].astype("Int64")
    return frame.sort_values(["trial", "epoch"], ignore_index=True)


def leaderboard(
    trials: pd.DataFrame, objective: Objective, stop: StopRule | None, top: int | None = None
) -> pd.DataFrame:
    """Finished trials (complete or pruned), best first, ranked exactly by the objective."""
    finished = trials[trials["state"].isin(["complete", "pruned"])].copy()
    finished["complete"] = finished["state"].eq("complete")
    if stop is not None:
        best = pd.to_numeric(finished["best_stop_metric"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        reached = finished["reached_threshold"].fillna(False).to_numpy(dtype=bool)
        finished["shortfall"] = np.where(reached, 0.0, stop.shortfalls(best))
    keys = objective.sort_keys(stop)
    finished = finished.sort_values(
        [k for k, _ in keys] + ["trial"], ascending=[a for _, a in keys] + [True], na_position="last", kind="stable"
    )
    finished.insert(0, "rank", range(1, len(finished) + 1))
    params = [c for c in trials.columns if c.startswith("params_")]
    shown = ["rank", "trial", "state"]
    if objective.needs_stop:
        shown += ["reached_threshold", "epochs_to_threshold", "seconds_to_threshold", "best_stop_metric"]
    shown += [*params, "epochs_run", *([] if objective.needs_stop else ["kept_epoch"])]
    shown += ["train_accuracy", "val_accuracy", "test_accuracy", *OVERFITTING]
    shown += ["param_count", "fit_seconds", "seconds_per_epoch"]
    # Tables written by an older cnn-tune may lack a column: show what the table has.
    board = finished[[c for c in shown if c in finished.columns]].reset_index(drop=True)
    board.columns = [c.removeprefix("params_") for c in board.columns]
    return board.head(top) if top else board


@dataclass(frozen=True)
class RunSummary:
    """The headline numbers of a run."""

    name: str
    space: str
    engine: str
    algorithm: str
    pruner: str
    backend: str
    objective: str
    trials: int
    complete: int
    pruned: int
    failed: int
    running: int
    reached: int
    best_trial: int | None
    best_epochs_to_threshold: int | None
    best_val_accuracy: float | None
    best_test_accuracy: float | None
    best_stop_metric: float | None
    stop_rule: str | None
    best_config: dict[str, Any] | None
    total_epochs: int
    fit_seconds: float
    elapsed_seconds: float | None
    best_state: str | None = None
    best_epochs_run: int | None = None
    best_kept_epoch: int | None = None  # the epoch whose weights the best trial kept, when not its last
    best_reason: str | None = None  # why the pruner stopped the best trial, when it did
    missed_in_full: int = 0  # trials that trained their whole budget and missed the threshold
    folder: str | None = None

    def as_rows(self) -> list[tuple[str, str]]:
        def fmt(value: Any) -> str:
            if value is None:
                return "-"
            if isinstance(value, float):
                return f"{value:.4f}" if value <= 1 else f"{value:.1f}"
            return str(value)

        return [(k, fmt(v) if k != "best_config" else json.dumps(v)) for k, v in self.__dict__.items()]

    def pruned_best(self) -> str:
        """What to say when the best trial was stopped early: what stopped it, and how to train it in full."""
        if self.best_state != "pruned":
            return ""
        where = self.folder or self.name
        return (
            f" Trial {self.best_trial} was stopped early by the pruner at epoch {self.best_epochs_run} "
            f"({self.best_reason}); train it in full with: cnn-tune reproduce {where} --trial {self.best_trial} --full"
        )

    def verdict(self) -> str:
        """What the run found; a threshold nobody reached is a result, said plainly, and a best trial the
        pruner stopped says so, with the command that trains it in full."""
        finished = self.complete + self.pruned
        if self.best_trial is None:
            return f"No trial finished yet ({self.failed} failed)."
        if self.stop_rule is None:
            kept = self.best_kept_epoch
            at = f", at epoch {kept} of {self.best_epochs_run}" if kept and kept != self.best_epochs_run else ""
            return (
                f"Best trial {self.best_trial}: validation accuracy {self.best_val_accuracy:.4f}{at}."
                + self.pruned_best()
            )
        if self.reached:
            return (
                f"{self.reached} of {finished} finished trials reached {self.stop_rule}; the best, trial "
                f"{self.best_trial}, in {self.best_epochs_to_threshold} epochs "
                f"(validation {self.best_val_accuracy:.4f}, test {self.best_test_accuracy or float('nan'):.4f})."
            )
        closest = "-" if self.best_stop_metric is None else f"{self.best_stop_metric:.4f}"
        early = finished - self.missed_in_full
        return (
            f"No trial reached {self.stop_rule}: of the {finished} finished trials, {self.missed_in_full} missed it "
            f"within their full budget and {early} were stopped early by the pruner; the closest, trial "
            f"{self.best_trial}, came to {closest}." + self.pruned_best()
        )


def _stop_rule(run: dict[str, Any]) -> str | None:
    stop = run.get("space", {}).get("stop")
    if not stop:
        return None
    op = "<=" if "loss" in stop["metric"] else ">="
    return f"{stop['metric']} {op} {stop['threshold']:g}"


def summarize(trials: pd.DataFrame, board: pd.DataFrame, run: dict[str, Any], folder: str | None = None) -> RunSummary:
    """Counts by state, the best trial and the time spent, from the trials table and its leaderboard."""
    states = trials["state"].value_counts()
    best = board.iloc[0] if len(board) else None
    best_row = trials[trials["trial"] == best["trial"]].iloc[0] if best is not None else None
    started = pd.to_datetime(trials["started"], errors="coerce").min()
    finished = pd.to_datetime(trials["finished"], errors="coerce").max()
    elapsed = (finished - started).total_seconds() if pd.notna(started) and pd.notna(finished) else None

    def number(value: Any) -> Any:
        return None if value is None or pd.isna(value) else value.item() if hasattr(value, "item") else value

    return RunSummary(
        name=run.get("name", ""),
        space=run.get("space", {}).get("name", ""),
        engine=run.get("engine", ""),
        algorithm=run.get("algorithm", ""),
        pruner=run.get("pruner", ""),
        backend=recorded_backend(run),
        objective=run.get("space", {}).get("objective", ""),
        trials=len(trials),
        complete=int(states.get("complete", 0)),
        pruned=int(states.get("pruned", 0)),
        failed=int(states.get("failed", 0)),
        running=int(states.get("running", 0)),
        reached=int(trials["reached_threshold"].fillna(False).sum()),
        best_trial=None if best is None else int(best["trial"]),
        best_epochs_to_threshold=None if best_row is None else number(best_row["epochs_to_threshold"]),
        best_val_accuracy=None if best_row is None else number(best_row["val_accuracy"]),
        best_test_accuracy=None if best_row is None else number(best_row["test_accuracy"]),
        best_config=None if best_row is None else json.loads(best_row["config"]),
        best_stop_metric=None if best_row is None else number(best_row["best_stop_metric"]),
        stop_rule=_stop_rule(run),
        total_epochs=int(trials["epochs_run"].fillna(0).sum()),
        fit_seconds=float(trials["fit_seconds"].fillna(0).sum()),
        elapsed_seconds=elapsed,
        best_state=None if best_row is None else str(best_row["state"]),
        best_epochs_run=None if best_row is None else number(best_row["epochs_run"]),
        best_kept_epoch=None if best_row is None else number(best_row.get("kept_epoch")),
        best_reason=None if best_row is None or pd.isna(best_row["fail_reason"]) else str(best_row["fail_reason"]),
        missed_in_full=int(((trials["state"] == "complete") & ~trials["reached_threshold"].fillna(False)).sum()),
        folder=folder,
    )
