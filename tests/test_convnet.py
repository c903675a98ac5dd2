"""The VGG-style convnet family, learning-rate annealing, and resizing for it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import invoke
from test_formats import image_folder

from tuner.space import load_space
from tuner.training.architecture import layer_plan, plan_counts


def test_convnet_blocks_double_the_filters() -> None:
    plan = layer_plan(
        {"family": "convnet", "blocks": 3, "filters": 32, "head": "gap", "dense_layers": 0}, (32, 32, 3), 5
    )
    convs = [layer for layer in plan if layer.kind == "Conv2D"]
    assert [c.args["filters"] for c in convs] == [32, 32, 64, 64, 128, 128]
    assert all(c.args["padding"] == "same" for c in convs)
    assert [layer.kind for layer in plan][-2:] == ["GlobalAveragePooling2D", "Dense"]
    assert plan[-2].output_shape == (128,) and plan[-1].output_shape == (5,)
    assert plan_counts(plan)["pool_layers"] == 3 and plan_counts(plan)["conv_layers"] == 6


@pytest.mark.parametrize("head", ["gap", "flatten"])
def test_convnet_plan_matches_keras(head: str) -> None:
    from tuner.training.model import build_model, model_counts

    config = {"family": "convnet", "blocks": 2, "filters": 16, "head": head, "dense_layers": 1, "dense_units": 32}
    model = build_model(config, (32, 32, 1), 10)
    plan = layer_plan(config, (32, 32, 1), 10)
    assert model_counts(model) == plan_counts(plan)
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == [layer.output_shape for layer in plan]


def test_convnet_space_keeps_its_constraints_at_its_image_size() -> None:
    space = load_space("convnet")
    assert space.image_shape((28, 28, 1)) == (32, 32, 1)
    for config in space.architectures():
        layer_plan(config, (32, 32, 1), 10)  # every block count fits 32x32


def test_annealing_divides_the_learning_rate_when_validation_loss_stalls(tiny_data: Path) -> None:
    from tuner.data import load_dataset
    from tuner.training.trainer import train_trial

    data = load_dataset("mnist")
    config = {
        "conv_layers": 1,
        "filters": 8,
        "dense_units": 16,
        "learning_rate": 1e-7,
        "batch_size": 64,
        "epochs": 4,
        "lr_annealing": True,
        "lr_patience": 1,
    }
    result = train_trial(config, data, seed=0, say=lambda text: None)
    rates = [row["learning_rate"] for row in result.history]
    assert rates[0] == pytest.approx(1e-7, rel=1e-5)
    assert rates[1] == pytest.approx(1e-8, rel=1e-5)  # a tenth, once validation loss stalled
    assert all(
        b == pytest.approx(a, rel=1e-5) or b == pytest.approx(a / 10, rel=1e-5) for a, b in itertools.pairwise(rates)
    )
    still = train_trial({**config, "lr_annealing": False}, data, seed=0, say=lambda text: None)
    assert all(row["learning_rate"] == pytest.approx(1e-7, rel=1e-5) for row in still.history)


def test_resize_and_colour_apply_to_any_dataset(tiny_data: Path) -> None:
    from tuner.data import load_dataset

    data = load_dataset("mnist", image_size=(32, 32), color="rgb")
    assert data.x_train.shape[1:] == (32, 32, 3) and data.x_test.shape[1:] == (32, 32, 3)
    assert np.allclose(data.x_train[..., 0], data.x_train[..., 2])  # grey copied into the three channels


def test_convnet_runs_on_an_image_folder(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "pictures", per_class=20, rgb=True, split=True)
    space = tmp_path / "convnet.yaml"
    text = (Path(__file__).parent.parent / "search_spaces" / "convnet.yaml").read_text()
    space.write_text(
        text.replace("color: grayscale", "color: rgb")
        .replace("image_size: [32, 32]", "image_size: [16, 16]")
        .replace("blocks: {choice: [2, 3, 4]}", "blocks: 2")
    )
    result = invoke(
        "run",
        "--space",
        str(space),
        "--dataset",
        str(folder),
        "--trials",
        "2",
        "--max-epochs",
        "2",
        "--out",
        str(tmp_path / "runs"),
        "-q",
    )
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(tmp_path / "runs" / "convnet-optuna-cost-tpe" / "trials.csv")
    assert trials["state"].tolist() == ["complete", "complete"]
    assert trials["conv_layers"].tolist() == [4, 4] and trials["pool_layers"].tolist() == [2, 2]


def test_the_photo_chapter_space_trains_on_a_small_folder(tmp_path: Path) -> None:
    # convnet-224 as it ships, at 64x64 (the chapter's 224x224 costs 12 times as much a pixel block)
    folder = image_folder(tmp_path / "photos", per_class=8, size=64, rgb=True, split=True)
    space = tmp_path / "convnet-64.yaml"
    text = (Path(__file__).parent.parent / "search_spaces" / "convnet-224.yaml").read_text()
    space.write_text(text.replace("image_size: [224, 224]", "image_size: [64, 64]"))
    pins = ["--set", "augment_flip=horizontal", "--set", "augment_zoom=0.1"]
    result = invoke(
        "run", "--space", str(space), "--dataset", str(folder), "--trials", "1", "--max-epochs", "1",
        *pins, "--out", str(tmp_path / "runs"), "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trial = pd.read_csv(tmp_path / "runs" / "convnet-224-optuna-cost-tpe" / "trials.csv").iloc[0]
    config = json.loads(trial["config"])
    assert trial["state"] == "complete" and config["augment_flip"] == "horizontal" and config["blocks"] == 4
    assert (trial["conv_layers"], trial["pool_layers"]) == (8, 4)
    assert not np.isnan(trial["train_val_gap"])
