"""Faults inside a real trial (the Keras trainer on tiny data): each ends as a failed trial with its reason,
never as an exception that would stop the search."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.data import load_dataset
from tuner.space.rules import parse_constraint
from tuner.training.trainer import train_trial

CONFIG = {"conv_layers": 1, "filters": 8, "kernel_size": 3, "dense_units": 16, "batch_size": 64, "epochs": 2}


@pytest.fixture
def data(tiny_data: Path):  # type: ignore[no-untyped-def]
    return load_dataset("mnist", validation_split=0.1, seed=0)


def test_loss_becoming_nan_fails_the_trial(data) -> None:  # type: ignore[no-untyped-def]
    # Keras keeps the loss finite for most bad inputs (it clips probabilities), so the NaN comes
    # from the epoch's logs, exactly where a diverging fit reports it.
    from tuner.training.trainer import EpochMonitor

    def diverge(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        original(self, epoch, {**(logs or {}), "loss": float("nan")})

    original = EpochMonitor.on_epoch_end
    EpochMonitor.on_epoch_end = diverge  # type: ignore[method-assign]
    try:
        result = train_trial(CONFIG, data, seed=0, say=lambda text: None)
    finally:
        EpochMonitor.on_epoch_end = original  # type: ignore[method-assign]
    assert result.state == "failed" and result.fail_reason == "loss became nan at epoch 1"
    assert result.epochs_run == 1 and result.test_accuracy is None


def test_out_of_memory_fails_the_trial(data) -> None:  # type: ignore[no-untyped-def]
    from tuner.training.backend import tf

    def allocate(epoch: int, logs: dict) -> None:  # what TensorFlow raises when an allocation fails
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[65536,65536]")

    result = train_trial(CONFIG, data, seed=0, on_epoch=allocate, say=lambda text: None)
    assert result.state == "failed"
    assert result.fail_reason == "out of memory: OOM when allocating tensor with shape[65536,65536]"


def test_a_built_model_that_breaks_a_constraint_fails_before_training(data) -> None:  # type: ignore[no-untyped-def]
    rule = parse_constraint("conv_layers == 1", "test")
    result = train_trial({**CONFIG, "conv_layers": 2}, data, seed=0, constraints=(rule,), say=lambda text: None)
    assert result.state == "failed"
    assert result.fail_reason == "the built model breaks `conv_layers == 1`: it has conv_layers=2"
    assert result.epochs_run == 0
