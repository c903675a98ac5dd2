from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_settings, scripted_runner

from tuner.reports import leaderboard, render
from tuner.runs.reader import load_run
from tuner.search import run_search
from tuner.space import load_space
from tuner.space.objectives import get_objective


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {
        "state": "complete",
        "params_filters": 32,
        "epochs_run": 5,
        "train_accuracy": 0.9,
        "test_accuracy": 0.9,
        "param_count": 10,
        "fit_seconds": 1.0,
        "seconds_per_epoch": 0.2,
        "seconds_to_threshold": None,
    }
    return pd.DataFrame([{**base, **row} for row in rows])


def test_threshold_leaderboard_ranks_reached_first_then_epochs_then_seconds_then_closeness() -> None:
    space = load_space("exercise3")
    trials = frame(
        [
            {
                "trial": 0,
                "reached_threshold": False,
                "epochs_to_threshold": None,
                "best_stop_metric": 0.997,
                "val_accuracy": 0.99,
            },
            {
                "trial": 1,
                "reached_threshold": True,
                "epochs_to_threshold": 9,
                "best_stop_metric": 0.998,
                "val_accuracy": 0.98,
            },
            {
                "trial": 2,
                "reached_threshold": True,
                "epochs_to_threshold": 7,
                "seconds_to_threshold": 30.0,
                "best_stop_metric": 0.999,
                "val_accuracy": 0.99,
            },
            {
                "trial": 3,
                "reached_threshold": True,
                "epochs_to_threshold": 7,
                "seconds_to_threshold": 21.0,  # as many epochs as trial 2, in fewer seconds: ranks first
                "best_stop_metric": 0.998,
                "val_accuracy": 0.97,
            },
            {
                "trial": 4,
                "reached_threshold": False,
                "epochs_to_threshold": None,
                "best_stop_metric": 0.995,
                "val_accuracy": 0.995,
            },
            {
                "trial": 5,
                "state": "failed",
                "reached_threshold": False,
                "epochs_to_threshold": None,
                "best_stop_metric": None,
                "val_accuracy": None,
            },
        ]
    )
    board = leaderboard(trials, space.objective, space.stop)
    assert board["trial"].tolist() == [3, 2, 1, 0, 4]
    assert board["rank"].tolist() == [1, 2, 3, 4, 5]


def test_a_complete_trial_ranks_above_a_pruned_one_on_validation_accuracy() -> None:
    """Without a threshold, a pruned trial's value is its cut-short training's last epoch: every
    complete trial ranks above it, as optuna's best trial is a complete one; the values order the rest."""
    space = load_space("course-cnn")  # validation accuracy
    trials = frame(
        [
            {"trial": 0, "state": "pruned", "val_accuracy": 0.991},  # the best value, cut short
            {"trial": 1, "val_accuracy": 0.985},
            {"trial": 2, "val_accuracy": 0.989},
            {"trial": 3, "state": "pruned", "val_accuracy": 0.95},
            {"trial": 4, "state": "failed", "val_accuracy": None},
        ]
    )
    board = leaderboard(trials, space.objective, space.stop)
    assert space.objective.name == "val_accuracy" and space.stop is None
    assert board["trial"].tolist() == [2, 1, 0, 3]
    assert board["state"].tolist() == ["complete", "complete", "pruned", "pruned"]


def test_objective_values_agree_with_the_leaderboard() -> None:
    space = load_space("exercise3")
    objective = get_objective("epochs_to_threshold")
    reached = {"reached_threshold": True, "val_accuracy": 0.95}
    fastest = {**reached, "epochs_to_threshold": 7, "seconds_to_threshold": 20.0}
    fast = {**reached, "epochs_to_threshold": 7, "seconds_to_threshold": 600.0, "val_accuracy": 1.0}
    slow = {**reached, "epochs_to_threshold": 8, "seconds_to_threshold": 8.0, "val_accuracy": 1.0}
    close = {"reached_threshold": False, "best_stop_metric": 0.9979, "val_accuracy": 0.99}
    far = {"reached_threshold": False, "best_stop_metric": 0.99, "val_accuracy": 0.999}
    values = [objective.value(r, space.stop) for r in (fastest, fast, slow, close, far)]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert values[0] == pytest.approx(7 + 20 / 80)  # epochs, plus seconds / (seconds + 60): below one epoch
    # on training seconds: 5 ms sooner ranks first, whatever the validation accuracies
    timed = get_objective("time_to_threshold")
    sooner = {**reached, "seconds_to_threshold": 40.0, "val_accuracy": 0.97}
    later = {**reached, "seconds_to_threshold": 40.005, "val_accuracy": 0.99}
    tied = {**later, "val_accuracy": 0.98}
    values = [timed.value(r, space.stop) for r in (sooner, later, tied)]
    assert values == sorted(values) and len(set(values)) == len(values)
    board = leaderboard(
        pd.DataFrame([sooner, later, tied]).assign(trial=[0, 1, 2], state="complete", best_stop_metric=0.999),
        timed,
        space.stop,
    )
    assert board["trial"].tolist() == [0, 1, 2]


def test_run_tables_and_renderers(tmp_path: Path, tiny_data: Path) -> None:
    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=3, pruner="none"), run_trial=scripted_runner()
    )
    run = load_run(outcome.store.path)
    board = run.leaderboard()
    summary = run.summary()
    assert summary.complete == 3 and summary.reached == 3 and summary.best_trial == int(board.iloc[0]["trial"])
    assert run.best_config == json.loads((outcome.store.path / "best" / "config.json").read_text())
    md = render(board, "md", "board")
    assert md.startswith("## board") and "| rank | trial |" in md
    assert json.loads(render(board, "json", "board"))[0]["rank"] == 1
    assert (
        pd.read_csv(__import__("io").StringIO(render(board, "csv", "b")))["trial"].tolist() == board["trial"].tolist()
    )
    page = render(board.assign(state="<script>alert(1)</script>"), "html", "<b>title</b>")
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;title" in page
    assert len(run.history) == int(run.trials["epochs_run"].sum())


def test_a_threshold_nobody_reaches_is_reported_as_a_result(tmp_path: Path, tiny_data: Path) -> None:
    # Fashion-MNIST under the exercise's 99.8%: the scripted trainer plateaus at 0.93.
    settings = make_settings(space="exercise3", dataset="fashion_mnist", out=tmp_path, trials=3, max_epochs=4)
    outcome = run_search(settings, run_trial=scripted_runner(speed=lambda c: 0.3, threshold=2.0))
    run = load_run(outcome.store.path)
    summary = run.summary()
    assert summary.reached == 0 and summary.complete + summary.pruned == 3
    verdict = summary.verdict()
    assert verdict.startswith(
        f"No trial reached accuracy >= 0.998: of the 3 finished trials, {summary.missed_in_full} missed it "
        f"within their full budget and {3 - summary.missed_in_full} were stopped early by the pruner"
    )
    assert summary.missed_in_full == summary.complete >= 1  # the last trial, at least, trained its 4 epochs
    assert f"came to {summary.best_stop_metric:.4f}" in verdict
    assert verdict in (outcome.store.path / "leaderboard.md").read_text()
    assert run.leaderboard()["reached_threshold"].eq(False).all()


def test_compare_sets_runs_side_by_side(tmp_path: Path, tiny_data: Path) -> None:
    from tuner.reports import compare_frame, side_by_side

    fast = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=3, name="fast", pruner="none"),
        run_trial=scripted_runner(speed=lambda c: 2.0),
    )
    slow = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=3, name="slow", pruner="none"),
        run_trial=scripted_runner(speed=lambda c: 0.5),
    )
    frame = compare_frame([load_run(fast.store.path), load_run(slow.store.path)])
    assert frame["run"].tolist() == ["fast", "slow"]
    assert frame["trials_to_first_reached"].tolist() == [1, 1]
    assert frame["epochs_to_first_reached"].tolist() == [3, 12]  # first t with 1 - 0.5 e^(-r t) >= 0.998
    assert frame["best_epochs_to_threshold"].tolist() == [3, 12]
    assert frame["total_epochs"].tolist() == [9, 36]
    assert frame["best_config"].iloc[0].startswith("filters=")
    shown = side_by_side(frame)
    assert list(shown.columns) == ["figure", "fast", "slow"]
    assert shown.set_index("figure").loc["engine"].tolist() == ["optuna", "optuna"]


def test_overfitting_columns() -> None:
    from tuner.reports.tables import overfitting

    history = [
        {"accuracy": 0.80 + 0.02 * e, "val_accuracy": 0.85, "val_loss": v}
        for e, v in enumerate([0.50, 0.40, 0.35, 0.36, 0.38, 0.41])
    ]
    assert overfitting(history) == {"train_val_gap": pytest.approx(0.05), "best_val_epoch": 3, "val_loss_rising": True}
    falling = [dict(row, val_loss=1.0 - i / 10) for i, row in enumerate(history)]
    assert overfitting(falling)["val_loss_rising"] is False and overfitting(falling)["best_val_epoch"] == 6
    assert overfitting(history[:3])["val_loss_rising"] is False  # too short to tell


@pytest.mark.parametrize("name", ["dnn-baseline", "course-filters", "course-depth", "course-epochs", "mnist-995"])
def test_course_spaces_load(name: str) -> None:
    space = load_space(name)
    assert space.description and space.dataset in ("mnist", "fashion_mnist")
