"""Augmentation hyperparameters: Keras's random preprocessing layers at the input, seeded, active in training only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from test_cli import invoke

from tuner.errors import CnnTuneError
from tuner.space import load_space
from tuner.training.architecture import layer_plan, plan_counts

AUGMENT = {
    "augment_flip": "horizontal",
    "augment_rotation": 0.1,
    "augment_zoom": 0.2,
    "augment_translation": 0.1,
    "augment_contrast": 0.3,
}
SMALL = {"conv_layers": 1, "filters": 8, "dense_units": 16, "batch_size": 32}


def test_augmentation_layers_come_first_and_change_no_count() -> None:
    plain = layer_plan(SMALL, (28, 28, 1), 10)
    augmented = layer_plan({**SMALL, **AUGMENT}, (28, 28, 1), 10)
    kinds = [layer.kind for layer in augmented]
    assert kinds[:5] == ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast"]
    assert augmented[5:] == plain
    assert all(layer.output_shape == (28, 28, 1) and layer.params == 0 for layer in augmented[:5])
    assert plan_counts(augmented) == plan_counts(plain)
    # Left at their defaults, nothing is added; a zero factor adds nothing either.
    assert layer_plan({**SMALL, "augment_flip": "none", "augment_zoom": 0.0}, (28, 28, 1), 10) == plain


@pytest.mark.parametrize("family", ["cnn", "convnet"])
def test_augmented_plan_matches_keras(family: str) -> None:
    from tuner.training.model import build_model, model_counts

    config = {**SMALL, **AUGMENT, "family": family, "blocks": 2}
    model = build_model(config, (32, 32, 3), 10)
    plan = layer_plan(config, (32, 32, 3), 10)
    assert [type(layer).__name__ for layer in model.layers] == [layer.kind for layer in plan]
    assert model_counts(model) == plan_counts(plan)


def test_augmentation_is_seeded_and_inactive_at_evaluation(tmp_path: Path, tiny_data: Path) -> None:
    from tuner.data import load_dataset
    from tuner.training.backend import keras
    from tuner.training.trainer import train_trial

    data = load_dataset("mnist")
    config = {**SMALL, **AUGMENT, "epochs": 2}
    first = train_trial(config, data, seed=5, save_to=tmp_path / "a.keras")
    again = train_trial(config, data, seed=5)
    plain = train_trial({**SMALL, "epochs": 2}, data, seed=5)
    losses = [row["loss"] for row in first.history]
    assert losses == [row["loss"] for row in again.history]  # the same seed, the same random images
    assert losses != [row["loss"] for row in plain.history]  # the images were changed in training
    model = keras.models.load_model(tmp_path / "a.keras")
    x = data.x_test[:64]
    once, twice = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(once, twice)  # inference sees the images as they are
    scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(first.test_accuracy, abs=1e-6)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("augment_flip", "sideways", r"params\.augment_flip: must be one of none, horizontal, vertical"),
        ("augment_rotation", 0.7, r"params\.augment_rotation: must be at most 0.5"),
        ("augment_zoom", 1.0, r"params\.augment_zoom: must be below 1"),
        ("augment_contrast", -0.1, r"params\.augment_contrast: must be at least 0"),
    ],
)
def test_bad_augmentation_values_name_the_parameter(tmp_path: Path, name: str, value: object, message: str) -> None:
    text = yaml.safe_load((Path(__file__).parent.parent / "search_spaces" / "course-cnn.yaml").read_text())
    text["params"][name] = value
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(text))
    with pytest.raises(CnnTuneError, match=message):
        load_space(path)


def test_an_augmented_search_runs_and_reproduces(tmp_path: Path, tiny_data: Path) -> None:
    import pandas as pd

    text = yaml.safe_load((Path(__file__).parent.parent / "search_spaces" / "course-cnn.yaml").read_text())
    text["params"].update(
        conv_layers=1,
        filters={"choice": [16]},
        epochs=2,
        augment_flip={"choice": ["none", "horizontal"]},
        augment_rotation={"float": [0.0, 0.2], "step": 0.1},
        augment_zoom=0.1,
    )
    space = tmp_path / "augmented.yaml"
    space.write_text(yaml.safe_dump(text))
    run = invoke("run", "--space", str(space), "--trials", "2", "--out", str(tmp_path / "runs"), "-q")
    assert run.exit_code == 0, run.output
    folder = tmp_path / "runs" / "course-cnn-optuna-cost-tpe"
    trials = pd.read_csv(folder / "trials.csv")
    assert trials["state"].tolist() == ["complete", "complete"]
    assert {"augment_flip", "augment_rotation"} <= {c.removeprefix("params_") for c in trials.columns}
    again = invoke("reproduce", str(folder))
    assert again.exit_code == 0, again.output
    assert "reproduced: every figure within 1e-06 of the record" in again.stdout
