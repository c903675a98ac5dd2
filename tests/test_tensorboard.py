"""`--tensorboard DIR`: per-epoch scalars and an HParams summary per trial, read back with TensorBoard's
own event reader and HParams metadata parser."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import scripted_runner
from test_cli import invoke, one_line_error
from test_engine import search

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator


def test_each_trial_logs_its_epochs_and_hparams(tmp_path: Path, tiny_data: Path) -> None:
    board = tmp_path / "tb"
    runner = scripted_runner(speed=lambda c: c["filters"] / 16)
    outcome = search(tmp_path, runner, trials=5, algorithm="random", seed=3, tensorboard=board)
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    history = pd.read_csv(outcome.store.path / "history.csv")
    assert sorted(p.name for p in board.iterdir() if p.is_dir()) == sorted(f"trial-{n:04d}" for n in trials["trial"])

    # The experiment: the searched parameters with their ranges, and the metrics.
    root = events(board)
    experiment = metadata.parse_experiment_plugin_data(root.PluginTagToContent("hparams")[metadata.EXPERIMENT_TAG])
    names = {h.name for h in experiment.hparam_infos}
    assert {"filters", "learning_rate", "batch_size"} <= names
    assert {m.name.tag for m in experiment.metric_infos} >= {"objective", "reached_threshold", "epochs_to_threshold"}

    for row in trials.itertuples():
        log = events(board / f"trial-{row.trial:04d}")
        epochs = history[history["trial"] == row.trial].sort_values("epoch")
        accuracy = log.Scalars("accuracy")
        assert [s.step for s in accuracy] == epochs["epoch"].tolist()  # every epoch, the last one included
        assert [s.value for s in accuracy] == pytest.approx(epochs["accuracy"].tolist(), rel=1e-6)
        start = metadata.parse_session_start_info_plugin_data(
            log.PluginTagToContent("hparams")[metadata.SESSION_START_INFO_TAG]
        )
        assert start.group_name == f"trial-{row.trial:04d}"
        assert start.hparams["filters"].number_value == pytest.approx(float(row.params_filters))
        assert log.Scalars("objective")[-1].value == pytest.approx(row.value, rel=1e-6)
        assert log.Scalars("reached_threshold")[-1].value == (1.0 if row.reached_threshold is True else 0.0)


def test_tensorboard_is_recorded_and_named_in_errors(tmp_path: Path, tiny_data: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.util
    import json

    outcome = search(tmp_path, scripted_runner(), trials=1, tensorboard=tmp_path / "tb")
    assert json.loads((outcome.store.path / "run.json").read_text())["tensorboard"] == str(tmp_path / "tb")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    result = invoke("run", "--space", "exercise3", "--tensorboard", str(tmp_path / "tb2"), "--out", str(tmp_path))
    one_line_error(
        result, r"^error: --tensorboard: the tensorboard package is not installed; .*cnn-tune\[tensorboard\]"
    )


def test_the_log_is_written_without_tensorflow(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = f"""
import sys
from pathlib import Path
from tuner.records import TrialRecord
from tuner.search.tensorboard import TensorBoardLog
from tuner.space import load_space
log = TensorBoardLog(Path({str(tmp_path / "tb")!r}), load_space("exercise3"))
log.epoch_ended(0, 1, 5, {{"loss": 0.5, "accuracy": 0.9}})
log.trial_finished(TrialRecord(trial=0, state="complete", params={{"filters": 32}}, value=1.0,
                               history=[{{"loss": 0.5, "accuracy": 0.9}}, {{"loss": 0.1, "accuracy": 0.999}}]))
print("tensorflow" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"  # any backend: TensorFlow is not needed, nor loaded if installed
    log = events(tmp_path / "tb" / "trial-0000")
    assert [(s.step, round(s.value, 3)) for s in log.Scalars("accuracy")] == [(1, 0.9), (2, 0.999)]


def test_an_unwritable_log_folder_is_one_line(tmp_path: Path, tiny_data: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = invoke("run", "--space", "exercise3", "--tensorboard", str(blocker / "tb"), "--out", str(tmp_path))
    one_line_error(result, r"^error: --tensorboard: cannot write logs into .*a-file/tb: Not a directory")
