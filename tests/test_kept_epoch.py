"""A trial on a validation objective is worth its best epoch and keeps that epoch's weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuner.training.options import PATIENCE, TrainingOptions

COURSE = ["conv_layers=1", "filters_1=16", "epochs=10"]  # dense_units left to search


def test_a_trial_keeps_its_best_epoch_and_ends_patience_epochs_after_it(tmp_path: Path, tiny_data: Path) -> None:
    import keras

    from tuner.data import load_dataset
    from tuner.training.trainer import train_trial

    data = load_dataset("mnist")
    # A large learning rate on 400 images overfits within a few epochs: val_loss turns up.
    config = {"conv_layers": 1, "filters": 16, "dense_units": 64, "batch_size": 16, "epochs": 12}
    config["learning_rate"] = 0.01
    options = TrainingOptions(keep_best="val_loss", patience=2)
    result = train_trial(config, data, seed=1, options=options, save_to=tmp_path / "model.keras")
    losses = [row["val_loss"] for row in result.history]
    best = losses.index(min(losses)) + 1
    assert result.kept_epoch == best
    assert result.val_loss == pytest.approx(min(losses))
    assert result.val_accuracy == pytest.approx(result.history[best - 1]["val_accuracy"])
    # It ran to the end or stopped exactly `patience` epochs past its best.
    assert result.epochs_run == 12 or result.epochs_run == best + 2
    assert result.epochs_run == len(losses)
    # The saved model is the kept epoch's: it scores the kept epoch's validation loss.
    model = keras.models.load_model(tmp_path / "model.keras")
    scores = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(result.val_loss, rel=1e-4)


def test_patience_zero_trains_every_epoch_and_still_keeps_the_best(tiny_data: Path) -> None:
    from tuner.data import load_dataset
    from tuner.training.trainer import train_trial

    data = load_dataset("mnist")
    config = {"conv_layers": 1, "filters": 8, "dense_units": 16, "batch_size": 32, "epochs": 4}
    result = train_trial(config, data, seed=0, options=TrainingOptions(keep_best="val_accuracy", patience=0))
    accuracies = [row["val_accuracy"] for row in result.history]
    assert result.epochs_run == 4
    assert result.kept_epoch == accuracies.index(max(accuracies)) + 1
    assert result.val_accuracy == max(accuracies)


def test_a_validation_run_records_what_its_trials_keep(tmp_path: Path, tiny_data: Path) -> None:
    from conftest import make_settings, scripted_runner

    from tuner.search import run_search

    settings = make_settings(space="course-cnn", out=tmp_path, trials=1, pins=COURSE)
    outcome = run_search(settings, run_trial=scripted_runner())
    run = json.loads((outcome.store.path / "run.json").read_text())
    assert run["keep_best"] == "val_accuracy" and run["patience"] == PATIENCE
    assert run["identity"]["keep"] == {"best": "val_accuracy", "patience": PATIENCE}
    kept = TrainingOptions.from_record(run, "tensorflow")
    assert (kept.keep_best, kept.patience) == ("val_accuracy", PATIENCE)


def test_a_threshold_objective_refuses_patience(tmp_path: Path, tiny_data: Path) -> None:
    from conftest import make_settings

    from tuner.errors import CnnTuneError
    from tuner.search import run_search

    settings = make_settings(space="exercise3", out=tmp_path, trials=1)
    settings.training = TrainingOptions(patience=2)
    with pytest.raises(CnnTuneError, match=r"^patience: a trial on epochs_to_threshold ends at the stop rule"):
        run_search(settings)


def test_a_run_from_before_kept_epochs_resumes_keeping_the_last(
    tmp_path: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from conftest import make_settings, scripted_runner

    from tuner.errors import CnnTuneError
    from tuner.search import run_search, session

    with monkeypatch.context() as old:  # a run made by a cnn-tune whose trials kept their last epoch
        old.setattr(session, "kept_epochs", lambda options, space, store: replace(options, keep_best=None, patience=0))
        first = run_search(
            make_settings(space="course-cnn", out=tmp_path, trials=1, pins=COURSE), run_trial=scripted_runner()
        )
    run_file = first.store.path / "run.json"
    assert "keep" not in json.loads(run_file.read_text())["identity"]

    asked = make_settings(space="course-cnn", out=tmp_path, trials=2, pins=COURSE)
    asked.training = TrainingOptions(patience=2)
    with pytest.raises(CnnTuneError, match=r"^patience: .* keeps each trial's last epoch"):
        run_search(asked, run_trial=scripted_runner())

    resumed = run_search(
        make_settings(space="course-cnn", out=tmp_path, trials=2, pins=COURSE), run_trial=scripted_runner()
    )
    assert len(resumed.records) == 2
    run = json.loads(run_file.read_text())
    assert run["keep_best"] is None and run["patience"] == 0 and "keep" not in run["identity"]


def test_a_pruner_sees_the_best_epoch_so_far(tiny_data: Path) -> None:
    from tuner.pruners import intermediate_values
    from tuner.space import load_space

    space = load_space("course-cnn")
    history = [{"val_accuracy": v} for v in (0.80, 0.85, 0.83, float("nan"), 0.86)]
    assert intermediate_values(space, history)[:4] == [0.80, 0.85, 0.85, 0.85]
    assert intermediate_values(space, history)[4] == 0.86


def test_a_kept_epoch_is_reported_and_reproduced(tmp_path: Path, tiny_data: Path) -> None:
    import pandas as pd
    from test_cli import invoke

    pins = [arg for pin in COURSE for arg in ("--set", pin)]
    run = invoke(
        "run", "--space", "course-cnn", "--trials", "1", *pins, "--patience", "1", "--out", str(tmp_path), "-q"
    )
    assert run.exit_code == 0, run.output
    folder = tmp_path / "course-cnn-optuna-cost-tpe"
    trial = pd.read_csv(folder / "trials.csv").iloc[0]
    history = pd.read_csv(folder / "history.csv")
    accuracies = history.loc[history["trial"] == trial["trial"], "val_accuracy"].tolist()
    assert trial["kept_epoch"] == accuracies.index(max(accuracies)) + 1
    assert trial["val_accuracy"] == pytest.approx(max(accuracies))
    assert "kept_epoch" in (folder / "leaderboard.md").read_text()
    again = invoke("reproduce", str(folder))
    assert again.exit_code == 0, again.output
    assert "reproduced: every figure within 1e-06 of the record" in again.stdout
