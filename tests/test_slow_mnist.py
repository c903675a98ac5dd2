"""Real training on full MNIST: minutes on 2 cores, so marked slow (`pytest -m slow`).

Needs MNIST where cnn-tune looks for it (e.g. CNN_TUNE_DATA=../shared/datasets); skipped otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tuner.data import NAMED, locate

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture
def mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    if "CNN_TUNE_DATA" not in os.environ and DATA.is_dir():
        monkeypatch.setenv("CNN_TUNE_DATA", str(DATA))
    if locate(NAMED["mnist"])[0] is None:
        pytest.skip("full MNIST not available; set CNN_TUNE_DATA")


def test_course_reference_reaches_the_exercise_threshold(mnist: None) -> None:
    """Conv2D(32, 3x3) -> MaxPooling2D(2) -> Dense(128) -> Dense(10), Adam 1e-3, batch 32: the course's answer."""
    from tuner.data import load_dataset
    from tuner.space import load_space
    from tuner.training.trainer import train_trial

    space = load_space("exercise3")
    data = load_dataset("mnist", space.validation_split, space.data_seed)
    said: list[str] = []
    config = {
        "conv_layers": 1,
        "filters": 32,
        "kernel_size": 3,
        "pooling": "every",
        "dense_units": 128,
        "dropout": 0.0,
        "learning_rate": 1e-3,
        "batch_size": 32,
        "epochs": 20,
    }
    result = train_trial(config, data, seed=0, constraints=space.constraints, stop=space.stop, say=said.append)
    assert result.state == "complete"
    assert result.reached_threshold and result.epochs_to_threshold <= 20
    print(
        f"\ncourse reference on full MNIST: {result.epochs_to_threshold} epochs to 99.8%, "
        f"{result.seconds_to_threshold:.0f} s of training, test accuracy {result.test_accuracy:.4f}"
    )
    assert said == ["Reached 99.8% accuracy so cancelling training!"]
    assert (result.conv_layers, result.pool_layers) == (1, 1)
    assert result.test_accuracy > 0.98
