"""Images stay bytes in memory and the model scales them; runs recorded before train as they did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_cli import invoke

RUN = ["run", "--space", "exercise3", "--trials", "1", "--max-epochs", "2", "--set", "filters=16", "-q"]


def test_a_new_run_trains_on_bytes_and_its_saved_model_takes_pixel_values(tmp_path: Path, tiny_data: Path) -> None:
    from tuner.runs import load_run
    from tuner.training.backend import keras

    result = invoke(*RUN, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "exercise3-optuna-cost-tpe"
    assert json.loads((folder / "run.json").read_text())["identity"]["pixels"] == "uint8"
    data = load_run(folder).dataset()
    assert data.x_test.dtype == np.uint8 and int(data.x_test.max()) > 1
    assert invoke("reproduce", str(folder)).exit_code == 0  # matches the record, and saves the model
    model = keras.models.load_model(folder / "trials" / "0" / "model.keras", safe_mode=True)
    assert type(model.layers[0]).__name__ == "Rescaling"
    scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    trial = pd.read_csv(folder / "trials.csv").iloc[0]
    assert scores["accuracy"] == pytest.approx(trial["test_accuracy"], abs=1e-6)


def test_a_run_recorded_before_pixels_resumes_and_reproduces_on_float32(
    tmp_path: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner.runs import load_run
    from tuner.search import session

    with monkeypatch.context() as old:  # a run made by a cnn-tune that scaled pixels in NumPy
        old.setattr(session, "recorded_pipeline", lambda identity: {"pixels": "float32", "images": "memory"})
        assert invoke(*RUN, "--out", str(tmp_path)).exit_code == 0
    folder = tmp_path / "exercise3-optuna-cost-tpe"
    assert "pixels" not in json.loads((folder / "run.json").read_text())["identity"]

    asked: list[Any] = []
    loader = session.load_dataset
    monkeypatch.setattr(session, "load_dataset", lambda *a, **kw: asked.append(kw["pixels"]) or loader(*a, **kw))
    resumed = invoke(*RUN[:4], "2", *RUN[5:], "--out", str(tmp_path))
    assert resumed.exit_code == 0, resumed.output
    assert asked == ["float32"] and len(pd.read_csv(folder / "trials.csv")) == 2
    assert "pixels" not in json.loads((folder / "run.json").read_text())["identity"]
    assert load_run(folder).dataset().x_train.dtype == np.float32
    assert invoke("reproduce", str(folder), "--trial", "0").exit_code == 0
