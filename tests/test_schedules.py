"""Learning-rate schedules: the rate per epoch in plain Python and in Keras, and in a real trial."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tuner.training.schedules import rate_at

STEPS = 10  # steps per epoch


def per_epoch(config: dict) -> list[float]:
    """The rate at the first step of each epoch."""
    return [round(rate_at(config, epoch * STEPS, STEPS), 6) for epoch in range(int(config["epochs"]))]


def test_constant_and_cosine_to_zero_with_a_horizon_shorter_than_the_run() -> None:
    assert per_epoch({"learning_rate": 0.002, "epochs": 3}) == [0.002] * 3
    cosine = per_epoch({"learning_rate": 0.002, "lr_schedule": "cosine", "schedule_epochs": 4, "epochs": 6})
    assert cosine == [0.002, 0.001707, 0.001, 0.000293, 0.0, 0.0]  # at its floor after the horizon


def test_one_cycle_warms_up_then_decays_and_step_divides_by_ten() -> None:
    config = {"learning_rate": 0.004, "lr_schedule": "one_cycle", "schedule_epochs": 5, "epochs": 5}
    rates = [rate_at(config, s, STEPS) for s in range(50)]
    assert rates[0] == pytest.approx(0.0004) and max(rates) == pytest.approx(0.004)
    assert rates.index(max(rates)) == 5  # the warm-up is a tenth of the horizon
    assert all(a >= b for a, b in itertools.pairwise(rates[5:]))
    step = per_epoch({"learning_rate": 0.01, "lr_schedule": "step", "epochs": 8})
    assert step == [0.01] * 5 + [0.001] * 2 + [0.0001]


@pytest.mark.parametrize("kind", ["constant", "cosine", "one_cycle", "step"])
def test_zero_after_is_the_epoch_from_whose_end_the_rate_stays_zero(kind: str) -> None:
    from tuner.training.schedules import zero_after

    config = {"learning_rate": 0.003, "lr_schedule": kind, "schedule_epochs": 3, "epochs": 8}
    rates = [rate_at(config, step, STEPS) for step in range(8 * STEPS)]
    frozen = zero_after(config)
    if kind in ("constant", "step"):
        assert frozen is None and min(rates) > 0  # a rate that never reaches zero
    else:
        assert frozen == 3 and rates[3 * STEPS - 1] > 0 and set(rates[3 * STEPS :]) == {0.0}
    # without a horizon a schedule spans the whole run
    assert zero_after({**config, "schedule_epochs": None}) == (None if frozen is None else 8)
    # and a configuration without epochs trains as many as the trainer's default, so that is the run
    from tuner.training.schedules import DEFAULT_EPOCHS

    assert zero_after({"lr_schedule": kind}) == (None if frozen is None else DEFAULT_EPOCHS)


@pytest.mark.parametrize("kind", ["cosine", "one_cycle", "step"])
def test_the_keras_schedule_gives_the_same_rates(kind: str) -> None:
    from tuner.training.schedules import keras_schedule

    config = {"learning_rate": 0.003, "lr_schedule": kind, "schedule_epochs": 4, "epochs": 6}
    schedule = keras_schedule(config, STEPS)
    for step in range(0, 60, 3):
        assert float(schedule(step)) == pytest.approx(rate_at(config, step, STEPS), rel=1e-5, abs=1e-9), step


def test_a_trial_on_a_schedule_with_batch_norm_logs_its_rate(tiny_data: Path) -> None:
    from tuner.data import load_dataset
    from tuner.training.trainer import train_trial

    data = load_dataset("mnist")
    config = {
        "conv_layers": 1,
        "filters": 8,
        "dense_units": 16,
        "batch_norm": True,
        "lr_schedule": "cosine",
        "schedule_epochs": 2,
        "learning_rate": 0.003,
        "batch_size": 64,
        "epochs": 3,
    }
    result = train_trial(config, data, seed=1)
    assert result.state == "complete" and result.epochs_run == 3
    rates = [row["learning_rate"] for row in result.history]
    assert rates[0] < 0.003 and rates[1] == pytest.approx(0.0, abs=1e-9) and rates[2] == pytest.approx(0.0, abs=1e-9)
