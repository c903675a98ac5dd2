"""Plot data (DataFrames, tested) and matplotlib figures drawn from it (not computed there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.space import Space
from tuner.space.objectives import Objective

__all__ = [
    "curves_data",
    "history_data",
    "importance_data",
    "parallel_data",
    "plot_accuracy",
    "plot_history",
    "plot_importance",
    "plot_loss",
    "plot_parallel",
    "save_plots",
]


# -- data ---------------------------------------------------------------------------------------


def curves_data(history: pd.DataFrame, board: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """Per-epoch loss, accuracy (training and validation) and learning rate of the `top` best trials, best first."""
    best = board["trial"].head(top).tolist()
    frame = history[history["trial"].isin(best)].copy()
    frame["rank"] = frame["trial"].map({t: i + 1 for i, t in enumerate(best)})
    columns = ["rank", "trial", "epoch", "loss", "val_loss", "accuracy", "val_accuracy"]
    columns += ["learning_rate"] if "learning_rate" in frame else []  # histories from before it was logged lack it
    return frame.sort_values(["rank", "epoch"], ignore_index=True)[columns]


def history_data(trials: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    """The optimisation history: each complete trial's objective value and the best so far."""
    done = trials[trials["state"] == "complete"].sort_values("trial")
    values = done["value"].astype(float)
    best = values.cummin() if objective.direction == "minimize" else values.cummax()
    return pd.DataFrame({"trial": done["trial"].to_numpy(), "value": values.to_numpy(), "best": best.to_numpy()})


def _distributions(space: Space) -> dict[str, Any]:
    import optuna.distributions as d

    found: dict[str, Any] = {}
    for p in space.searched:
        if p.kind == "choice":
            found[p.name] = d.CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            found[p.name] = d.IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
        else:
            found[p.name] = d.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
    return found


def importance_data(trials: pd.DataFrame, space: Space, seed: int = 0) -> pd.DataFrame:
    """How much each searched parameter explains the objective (optuna's fANOVA), for either engine.

    Pruned trials count with the objective their row gives (for epochs-to-threshold: not reached,
    ranked by how close they came), so early stopping does not hide what they showed.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    done = trials[trials["state"].isin(["complete", "pruned"])]
    distributions = _distributions(space)
    study = optuna.create_study(direction=space.objective.direction)  # type: ignore[arg-type]
    per_epoch: list[Any] = done["seconds_per_epoch"].tolist() if "seconds_per_epoch" in done else []
    missed_at = space.missed_at(float(s) for s in per_epoch if pd.notna(s))
    for _, row in done.iterrows():
        # A pruned trial has no optimiser value, but its objective follows from its row just the same.
        known = {str(k): v for k, v in row.where(row.notna(), None).items()}
        value = space.objective.value(known, space.stop, missed_at)
        params = {
            k.removeprefix("params_"): row[k]
            for k in trials.columns
            if k.startswith("params_") and pd.notna(row[k]) and k.removeprefix("params_") in distributions
        }
        params = {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions={k: distributions[k] for k in params}, value=value)
        )
    values = [float(t.value) for t in study.trials if t.value is not None]
    if not distributions or len(values) < 2 or max(values) == min(values):
        # Nothing searched, or every trial scored the same: nothing to apportion (fANOVA would refuse).
        return pd.DataFrame({"param": [], "importance": []})
    scores = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed)
    )
    return pd.DataFrame({"param": list(scores), "importance": list(scores.values())})


def parallel_data(board: pd.DataFrame, space: Space) -> pd.DataFrame:
    """Each finished trial's searched values scaled to [0, 1] by the space's own ranges (log ranges in
    log, choices by position), with its leaderboard rank; a parameter a trial lacks is NaN."""
    frame = pd.DataFrame({"trial": board["trial"].to_numpy(), "rank": board["rank"].to_numpy()})
    for p in space.searched:
        if p.name not in board:
            continue
        values = board[p.name]
        if p.kind == "choice":
            last = max(len(p.choices) - 1, 1)
            scaled = values.map({v: i / last for i, v in enumerate(p.choices)})
        elif p.log:
            scaled = (np.log(values.astype(float)) - np.log(p.low)) / (np.log(p.high) - np.log(p.low))
        else:
            scaled = (values.astype(float) - p.low) / ((p.high - p.low) or 1.0)
        frame[p.name] = scaled.astype(float).to_numpy()
    return frame


# -- figures ------------------------------------------------------------------------------------


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=100)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return figure, axes


def _curves(data: pd.DataFrame, metric: str, label: str) -> Any:
    figure, axes = _figure(f"Training and validation {label} of the best trials", "epoch", label)
    for (rank, trial), rows in data.groupby(["rank", "trial"]):
        line = axes.plot(rows["epoch"], rows[metric], label=f"#{rank} trial {trial} training")[0]
        axes.plot(
            rows["epoch"],
            rows[f"val_{metric}"],
            linestyle="--",
            color=line.get_color(),
            label=f"#{rank} trial {trial} validation",
        )
    axes.legend(fontsize="small", ncol=2)
    figure.tight_layout()
    return figure


def plot_loss(data: pd.DataFrame) -> Any:
    """The course's plot_loss: training (solid) and validation (dashed) loss per epoch."""
    return _curves(data, "loss", "loss")


def plot_accuracy(data: pd.DataFrame) -> Any:
    """The course's plot_accuracy: training (solid) and validation (dashed) accuracy per epoch."""
    return _curves(data, "accuracy", "accuracy")


def plot_learning_rate(data: pd.DataFrame) -> Any:
    """The learning rate per epoch of the best trials (log scale): where annealing divided it."""
    figure, axes = _figure("Learning rate of the best trials", "epoch", "learning rate")
    for (rank, trial), rows in data.groupby(["rank", "trial"]):
        axes.step(rows["epoch"], rows["learning_rate"], where="post", label=f"#{rank} trial {trial}")
    axes.set_yscale("log")
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_history(data: pd.DataFrame, objective: Objective) -> Any:
    figure, axes = _figure("Optimisation history", "trial", objective.name)
    axes.scatter(data["trial"], data["value"], label="trial", s=18)
    axes.step(data["trial"], data["best"], where="post", color="tab:red", label="best so far")
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_importance(data: pd.DataFrame) -> Any:
    figure, axes = _figure("Parameter importance (fANOVA)", "share of the objective's variance", "parameter")
    ordered = data.sort_values("importance")
    axes.barh(ordered["param"], ordered["importance"], color="tab:blue")
    figure.tight_layout()
    return figure


def plot_parallel(data: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    params = [c for c in data.columns if c not in ("trial", "rank")]
    figure, axes = _figure("Parallel coordinates of the finished trials", "parameter", "position in its range")
    colours = plt.get_cmap("viridis_r")
    worst = max(int(data["rank"].max()), 2)
    for _, row in data.sort_values("rank", ascending=False).iterrows():
        axes.plot(
            range(len(params)),
            row[params].to_numpy(dtype=float),
            marker="o",
            markersize=3,
            color=colours((row["rank"] - 1) / (worst - 1)),
            alpha=0.85,
        )
    axes.set_xticks(range(len(params)), params, rotation=30, ha="right")
    scale = plt.cm.ScalarMappable(cmap=colours, norm=plt.Normalize(1, worst))
    figure.colorbar(scale, ax=axes, label="leaderboard rank (1 = best)")
    figure.tight_layout()
    return figure


def save_plots(run: Any, folder: Path, top: int = 5) -> list[Path]:
    """Write the run's plots as PNG files into `folder`; return their paths."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    objective = run.space.objective
    curves = curves_data(run.history, run.leaderboard(), top)
    figures = {
        "loss.png": plot_loss(curves),
        "accuracy.png": plot_accuracy(curves),
        "history.png": plot_history(history_data(run.trials, objective), objective),
        "parallel.png": plot_parallel(parallel_data(run.leaderboard(), run.space)),
    }
    if "learning_rate" in curves and curves.groupby("trial")["learning_rate"].nunique().max() > 1:
        figures["learning_rate.png"] = plot_learning_rate(curves)  # only when some trial's rate changed
    importance = importance_data(run.trials, run.space)
    if len(importance):
        figures["importance.png"] = plot_importance(importance)
    paths = []
    for name, figure in figures.items():
        figure.savefig(folder / name)
        plt.close(figure)
        paths.append(folder / name)
    (folder / "plots.json").write_text(json.dumps([p.name for p in paths]) + "\n")
    return paths
