"""Plot functions: the data they draw is tested; the figures are only checked to be written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_settings, scripted_runner

from tuner.reports.plots import curves_data, history_data, importance_data, parallel_data, save_plots
from tuner.runs.reader import load_run
from tuner.search import run_search


@pytest.fixture
def run(tmp_path: Path, tiny_data: Path) -> object:
    outcome = run_search(
        # A uniform sample (no start configurations), so that only filters and dense_units matter.
        make_settings(
            space="exercise3", out=tmp_path, trials=8, algorithm="random", pruner="none", seed=4, no_start=True
        ),
        run_trial=scripted_runner(speed=lambda c: c["filters"] / 32 + c["dense_units"] / 512),
    )
    return load_run(outcome.store.path)


def test_curves_are_the_best_trials_histories(run: object) -> None:
    data = curves_data(run.history, run.leaderboard(), top=3)
    best = run.leaderboard()["trial"].head(3).tolist()
    assert data.drop_duplicates("trial")["trial"].tolist() == best
    first = data[data["trial"] == best[0]]
    recorded = run.history[run.history["trial"] == best[0]]
    assert first["val_loss"].tolist() == recorded["val_loss"].tolist()
    assert list(data.columns) == [
        "rank",
        "trial",
        "epoch",
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "learning_rate",
    ]


def test_history_tracks_the_best_so_far(run: object) -> None:
    data = history_data(run.trials, run.space.objective)
    assert data["best"].tolist() == np.minimum.accumulate(data["value"]).tolist()
    assert data["best"].iloc[-1] == run.trials["value"].min()


def test_importance_ranks_the_parameters_that_matter(run: object) -> None:
    data = importance_data(run.trials, run.space)
    searched = {"filters", "kernel_size", "dense_units", "dropout", "learning_rate", "batch_size", "lr_schedule"}
    assert searched | {"batch_norm"} <= set(data["param"]) <= searched | {"batch_norm", "schedule_epochs"}
    assert data["importance"].sum() == pytest.approx(1.0)
    # The scripted trainer's speed depends on filters and dense units only: with 8 trials over 9
    # parameters fANOVA is noisy, but filters (a 4x range of speed) leads and dropout counts for nothing.
    importance = dict(zip(data["param"], data["importance"], strict=True))
    assert data["param"].iloc[0] == "filters"
    assert importance["dropout"] < importance["dense_units"]


def test_parallel_scales_by_the_spaces_ranges(run: object) -> None:
    board = run.leaderboard()
    data = parallel_data(board, run.space)
    assert data["rank"].tolist() == board["rank"].tolist()
    assert set(data["filters"]) <= {0.0, 0.5, 1.0}  # choice [16, 32, 64] by position
    rate = board["learning_rate"].astype(float)
    expected = (np.log(rate) - np.log(0.0003)) / (np.log(0.006) - np.log(0.0003))
    assert np.allclose(data["learning_rate"], expected)
    # an inactive conditional parameter (schedule_epochs of a constant rate) has no value
    assert data.drop(columns=["trial", "rank"]).stack().dropna().between(0, 1).all()


def test_save_plots_and_html(run: object, tmp_path: Path) -> None:
    paths = save_plots(run, tmp_path / "plots")
    assert {p.name for p in paths} == {"loss.png", "accuracy.png", "history.png", "parallel.png", "importance.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    from test_cli import invoke

    result = invoke("report", str(run.path), "--format", "html", "--output", str(tmp_path / "r.html"))
    assert result.exit_code == 0
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64,") == 5
    assert pd.read_csv(run.path / "trials.csv").shape[0] == 8


def test_notebook_api_returns_figures(run: object) -> None:
    import matplotlib.figure

    for method in ("plot_loss", "plot_accuracy", "plot_history", "plot_importance", "plot_parallel"):
        figure = getattr(run, method)()
        assert isinstance(figure, matplotlib.figure.Figure), method
        assert figure.axes[0].get_title()


def test_importance_is_empty_when_every_trial_scores_the_same(tmp_path: Path, tiny_data: Path) -> None:
    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=3, pruner="none"),
        run_trial=scripted_runner(speed=lambda c: 1.0),
    )
    run = load_run(outcome.store.path)
    assert importance_data(run.trials, run.space).empty
    assert "importance.png" not in {p.name for p in save_plots(run, tmp_path / "plots")}


def test_learning_rate_plot_only_when_annealing_changed_a_rate(run: object, tmp_path: Path) -> None:
    assert "learning_rate.png" not in {p.name for p in save_plots(run, tmp_path / "flat")}
    history = run.history.copy()
    best = run.leaderboard()["trial"].iloc[0]
    history["learning_rate"] = 1e-3
    history.loc[(history["trial"] == best) & (history["epoch"] >= 2), "learning_rate"] = 1e-4
    run.history = history  # as a run with lr_annealing records it
    data = curves_data(run.history, run.leaderboard(), top=2)
    rates = data[data["trial"] == best]["learning_rate"].tolist()
    assert rates[:1] == [1e-3] and set(rates[1:]) == {1e-4}
    assert "learning_rate.png" in {p.name for p in save_plots(run, tmp_path / "annealed")}
