"""A run's study as optuna's own tools read it (optuna.load_study, get_all_study_summaries, the `optuna`
command, and so optuna-dashboard): a compact label, the objective's name, values that rank correctly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
from conftest import scripted_runner
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from test_engine import search


def finished(tmp_path: Path):  # type: ignore[no-untyped-def]
    # filters 64 reaches the threshold fastest: slower trials are pruned at the incumbent's epoch.
    outcome = search(tmp_path, scripted_runner(speed=lambda c: c["filters"] / 16), trials=8, algorithm="random", seed=3)
    journal = outcome.store.path / "study.journal"
    return outcome, journal, JournalStorage(JournalFileBackend(str(journal)))


def test_optuna_reads_the_run_compactly_and_ranks_it_as_cnn_tune_does(tmp_path: Path, tiny_data: Path) -> None:
    outcome, _, storage = finished(tmp_path)
    name = outcome.store.path.name
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=True)
    assert [s.study_name for s in summaries] == [name]
    label = summaries[0].user_attrs
    assert list(label) == ["cnn_tune"] and len(json.dumps(label)) < 600  # not the whole record
    assert label["cnn_tune"]["run"] == name and label["cnn_tune"]["space"] == "exercise3"
    assert label["cnn_tune"]["objective"] == "epochs_to_threshold" and label["cnn_tune"]["backend"] == "tensorflow"

    study = optuna.load_study(study_name=name, storage=storage)
    assert study.metric_names == ["epochs_to_threshold"]  # optuna-dashboard's axis label
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert study.best_value == trials["value"].min() and study.best_trial.number in set(trials["trial"])
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned and all(t.value is not None and t.value > study.best_value for t in pruned)
    # The whole record stays with the study for hosts that share it without the run folder.
    record = storage.get_study_system_attrs(study._study_id)["cnn_tune_record"]
    folder = json.loads((outcome.store.path / "run.json").read_text())
    assert record == {k: v for k, v in folder.items() if k != "ended"}  # run.json also says when the run ended


def test_the_optuna_command_lists_the_run_in_a_few_lines(tmp_path: Path, tiny_data: Path) -> None:
    outcome, journal, _ = finished(tmp_path)
    command = [sys.executable, "-c", "from optuna.cli import main; main()", "studies", "--storage", str(journal)]
    listed = subprocess.run([*command, "-f", "json"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    (study,) = json.loads(listed.stdout)
    assert study["name"] == outcome.store.path.name and study["n_trials"] == 8
    assert list(study["user_attrs"]) == ["cnn_tune"] and len(listed.stdout) < 1000
