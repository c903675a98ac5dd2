"""Training options passed explicitly: steps_per_execution gives the same numbers, and reproduce keeps them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tuner.training.options import TrainingOptions


def test_steps_per_execution_trains_the_same_numbers(tiny_data: Path) -> None:
    from tuner.data import load_dataset
    from tuner.training.trainer import train_trial

    data = load_dataset("mnist")
    config = {"conv_layers": 1, "filters": 8, "dense_units": 16, "batch_size": 32, "epochs": 2}
    one = train_trial(config, data, seed=3, options=TrainingOptions(steps_per_execution=1))
    steps = math.ceil(len(data.x_train) / 32)
    # 5 does not divide an epoch's steps here (12); the default, 32, is more than an epoch
    for options in (TrainingOptions(steps_per_execution=5), TrainingOptions()):
        assert options.steps in (5, 32) and steps % options.steps != 0
        many = train_trial(config, data, seed=3, options=options)
        assert len(many.history) == len(one.history) == 2
        for a, b in zip(one.history, many.history, strict=True):
            for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
                assert a[metric] == pytest.approx(b[metric], abs=1e-6), metric


def test_steps_per_execution_must_be_positive(tmp_path: Path, tiny_data: Path) -> None:
    from conftest import make_settings

    from tuner.errors import CnnTuneError
    from tuner.search import run_search

    settings = make_settings(space="exercise3", out=tmp_path)
    settings.training = TrainingOptions(steps_per_execution=0)
    with pytest.raises(CnnTuneError, match=r"^steps_per_execution: must be at least 1, got 0"):
        run_search(settings)


@pytest.mark.parametrize(
    ("backend", "asked", "decided"),
    [
        ("jax", None, 32),  # a small model's step is mostly dispatch, on a GPU and on the CPU
        ("tensorflow", None, 32),
        ("torch", None, 1),  # Keras on PyTorch takes only 1
        ("jax", 4, 4),  # what the user asked stays
        ("tensorflow", 1, 1),
    ],
)
def test_steps_per_execution_left_open_is_decided(backend: str, asked: int | None, decided: int) -> None:
    options = TrainingOptions(steps_per_execution=asked, backend=backend)
    assert options.steps == decided
    assert options.decided().steps_per_execution == decided


def test_a_cpu_run_records_the_steps_it_decided(tmp_path: Path, tiny_data: Path) -> None:
    import json

    from conftest import make_settings

    from tuner.search import run_search

    settings = make_settings(space="exercise3", out=tmp_path, trials=1, max_epochs=1)
    outcome = run_search(settings)
    assert json.loads((outcome.store.path / "run.json").read_text())["steps_per_execution"] == 32
