"""`cnn-tune reproduce`: retrain from the record alone; match exits 0, mismatch 1, bad input 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import invoke, one_line_error

from tuner.training.architecture import layer_plan, summary_rows


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_TUNE_DATA", str(data_root))
        result = invoke("run", "--space", "exercise3", "--trials", "2", "--max-epochs", "2", "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    return out / "exercise3-optuna-cost-tpe"


def test_reproduce_matches_and_saves_a_safe_model(finished_run: Path, tiny_data: Path) -> None:
    result = invoke("reproduce", str(finished_run))
    assert result.exit_code == 0, result.output
    assert "reproduced: every figure within 1e-06 of the record" in result.stdout
    best = int(pd.read_csv(finished_run / "trials.csv").sort_values("value").iloc[0]["trial"])
    model_path = finished_run / "trials" / str(best) / "model.keras"
    from tuner.training.backend import keras

    model = keras.models.load_model(model_path, safe_mode=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 1 and kinds.count("MaxPooling2D") == 1


def test_tampered_seed_is_reported_with_exit_1(finished_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    for name in ("trials.csv", "trials.parquet"):
        path = copy / name
        frame = pd.read_parquet(path) if name.endswith("parquet") else pd.read_csv(path)
        frame["seed"] = frame["seed"] + 1
        frame.to_parquet(path) if name.endswith("parquet") else frame.to_csv(path, index=False)
    result = invoke("reproduce", str(copy), "--trial", "0")
    assert result.exit_code == 1
    assert "differs: epoch 1 loss: recorded" in result.stderr


def test_data_fingerprint_change_warns(finished_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    record = json.loads((copy / "run.json").read_text())
    record["dataset"]["fingerprint"] = "0000000000000000"
    (copy / "run.json").write_text(json.dumps(record))
    result = invoke("reproduce", str(copy), "--trial", "0")
    assert "warning: data fingerprint" in result.stderr


def test_the_run_records_deterministic_kernels_and_reproduce_keeps_the_choice(
    finished_run: Path, tiny_data: Path, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from tuner.training.options import TrainingOptions

    record = json.loads((finished_run / "run.json").read_text())
    assert record["deterministic"] is True  # the default: a GPU trial reproduces too
    assert "deterministic" not in record["identity"]  # so runs made before the option keep resuming
    assert TrainingOptions.from_record(record, "tensorflow").deterministic
    assert TrainingOptions.from_record({}, "tensorflow").deterministic  # runs made before the option
    assert not TrainingOptions.from_record({"deterministic": False}, "jax").deterministic

    # A new process takes --no-deterministic (this one loaded Keras long ago, with the default)
    command = [sys.executable, "-m", "tuner", "run", "--space", "exercise3", "--trials", "1", "--max-epochs", "1",
               "--no-deterministic", "--out", str(tmp_path), "--name", "fast-kernels", "-q"]  # fmt: skip
    ran = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    folder = tmp_path / "fast-kernels"
    fast = json.loads((folder / "run.json").read_text())
    assert fast["deterministic"] is False and fast["identity"]["deterministic"] is False
    again = invoke("reproduce", str(folder))
    assert again.exit_code == 0, again.output  # on the CPU the kernels are deterministic either way
    assert "warning: the run trained with --no-deterministic: on a GPU its numbers vary" in again.stderr
    assert "warning: Keras already loaded in this process with deterministic GPU kernels, unlike the run" in (
        again.stderr
    )
    # resumed with other kernels it would be another search: refused, with what differs
    resumed = invoke("run", "--space", "exercise3", "--trials", "2", "--max-epochs", "1",
                     "--out", str(tmp_path), "--name", "fast-kernels", "-q")  # fmt: skip
    one_line_error(resumed, r"holds another search \(deterministic=False\)")
    # this process trains with deterministic kernels whatever a later run asks, and its record says so
    late = invoke("run", "--space", "exercise3", "--trials", "1", "--max-epochs", "1", "--no-deterministic",
                  "--out", str(tmp_path), "--name", "late", "-q")  # fmt: skip
    assert late.exit_code == 0, late.output
    assert json.loads((tmp_path / "late" / "run.json").read_text())["deterministic"] is True


def test_bad_trial_is_exit_2(finished_run: Path) -> None:
    one_line_error(invoke("reproduce", str(finished_run), "--trial", "99"), r"--trial 99: .* has no such trial")
    one_line_error(
        invoke("reproduce", str(finished_run), "--trial", "first"), r"--trial: give 'best' or a trial number"
    )


def test_summary_of_the_course_model() -> None:
    config = {"conv_layers": 2, "filters": 64, "kernel_size": 3, "dense_units": 128}
    rows = summary_rows(layer_plan(config, (28, 28, 1), 10))
    assert [(r["layer"], r["output_shape"], r["params"]) for r in rows] == [
        ("conv2d_1 (Conv2D)", "(None, 26, 26, 64)", 640),
        ("maxpooling2d_1 (MaxPooling2D)", "(None, 13, 13, 64)", 0),
        ("conv2d_2 (Conv2D)", "(None, 11, 11, 64)", 36928),
        ("maxpooling2d_2 (MaxPooling2D)", "(None, 5, 5, 64)", 0),
        ("flatten_1 (Flatten)", "(None, 1600)", 0),
        ("dense_1 (Dense)", "(None, 128)", 204928),
        ("dense_2 (Dense)", "(None, 10)", 1290),
    ]
    assert sum(r["params"] for r in rows) == 243786


def test_report_trial_shows_the_model_without_training(finished_run: Path) -> None:
    result = invoke("report", str(finished_run), "--trial", "0", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(__import__("io").StringIO(result.stdout))
    assert frame["layer"].iloc[-1] == "Total params"
    trials = pd.read_csv(finished_run / "trials.csv")
    assert frame["params"].iloc[-1] == trials.loc[trials["trial"] == 0, "param_count"].iloc[0]


def test_inspect_feature_maps_follow_the_layers(finished_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    from tuner.runs.feature_maps import feature_maps
    from tuner.runs.reader import load_run

    run = load_run(finished_run)
    maps = feature_maps(run, 0, [0, 5], filter_index=1)
    plan = [layer for layer in layer_plan(run.config(0), (28, 28, 1), 10) if layer.kind in ("Conv2D", "MaxPooling2D")]
    assert [m.shape for m in maps.maps[0]] == [layer.output_shape[:2] for layer in plan]
    data = run.dataset()
    assert maps.labels == [data.class_names[int(data.y_test[i])] for i in (0, 5)]
    assert not np.allclose(maps.maps[0][0], maps.maps[1][0])  # different images, different maps
    output = tmp_path / "maps.png"
    result = invoke("inspect", str(finished_run), "--trial", "0", "--images", "0,5", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_bytes()[:4] == b"\x89PNG"


def test_inspect_bad_input(finished_run: Path, tiny_data: Path) -> None:
    one_line_error(
        invoke("inspect", str(finished_run), "--trial", "0", "--filter", "999"), r"--filter 999: .* choose 0\.\."
    )
    one_line_error(
        invoke("inspect", str(finished_run), "--trial", "0", "--images", "0,100000"), r"--images: 100000 is not"
    )
    one_line_error(invoke("inspect", str(finished_run), "--images", "a,b"), r"--images: give test image numbers")
