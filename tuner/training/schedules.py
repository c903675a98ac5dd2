"""Learning-rate schedules of the model family: the rate as a function of the training step.

`lr_schedule` is constant, cosine (decay to zero), one_cycle (a linear warm-up to the rate over the
first tenth of the horizon, then cosine to zero) or step (the rate, a tenth of it after half the
horizon, a hundredth after three quarters). `schedule_epochs` is the horizon (default: every
epoch); after it the rate stays at its floor. `rate_at` gives the rate at a step in plain Python,
and `keras_schedule` the same function for the Keras optimizer. `zero_after` says when a schedule's rate
has reached zero for good (the weights stop changing; a pruner stops such a trial).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "DEFAULT_EPOCHS",
    "SCHEDULES",
    "keras_schedule",
    "rate_at",
    "schedule_inputs",
    "trial_epochs",
    "zero_after",
]

SCHEDULES = ("constant", "cosine", "one_cycle", "step")
_WARMUP = 0.1  # one_cycle's share of the horizon spent warming up
DEFAULT_EPOCHS = 5  # what a configuration without `epochs` trains


def trial_epochs(config: dict[str, Any]) -> int:
    """The epochs a trial of `config` trains at most: its `epochs`, else DEFAULT_EPOCHS."""
    return int(config.get("epochs") or DEFAULT_EPOCHS)


def _horizon_epochs(config: dict[str, Any]) -> int:
    """The schedule's horizon in epochs: `schedule_epochs`, else the whole run."""
    return int(config.get("schedule_epochs") or trial_epochs(config))


def _horizon(config: dict[str, Any], steps_per_epoch: int) -> int:
    return max(1, _horizon_epochs(config) * steps_per_epoch)


def _warmup(horizon: int) -> int:
    return max(1, round(_WARMUP * horizon))


def zero_after(config: dict[str, Any]) -> int | None:
    """The epoch at whose end `config`'s rate reaches zero and stays there (cosine and one_cycle, at
    the end of their horizon), or None for a schedule that keeps a rate (constant, step)."""
    if config.get("lr_schedule", "constant") not in ("cosine", "one_cycle"):
        return None
    return _horizon_epochs(config)


def rate_at(config: dict[str, Any], step: int, steps_per_epoch: int) -> float:
    """The learning rate `config`'s schedule gives at training step `step` (0 = the first)."""
    rate = float(config.get("learning_rate", 1e-3))
    kind = config.get("lr_schedule", "constant")
    horizon = _horizon(config, steps_per_epoch)
    if kind == "cosine":
        return rate * 0.5 * (1 + math.cos(math.pi * min(step, horizon) / horizon))
    if kind == "one_cycle":
        warmup = _warmup(horizon)
        if step < warmup:
            return rate / 10 + (rate - rate / 10) * step / warmup
        decay = max(1, horizon - warmup)
        return rate * 0.5 * (1 + math.cos(math.pi * min(step - warmup, decay) / decay))
    if kind == "step":
        return rate if step <= horizon // 2 else rate / 10 if step <= 3 * horizon // 4 else rate / 100
    return rate


def schedule_inputs(config: dict[str, Any], steps_per_epoch: int) -> dict[str, float]:
    """`rate_at`'s constants as numbers, for a compiled program that takes the schedule as an input
    (training/fused.py): the kind (its index in SCHEDULES), the rate, the horizon and warm-up in
    steps, the decay after the warm-up, and the step schedule's two boundaries."""
    horizon = _horizon(config, steps_per_epoch)
    warmup = _warmup(horizon)
    return {
        "kind": float(SCHEDULES.index(config.get("lr_schedule", "constant"))),
        "rate": float(config.get("learning_rate", 1e-3)),
        "horizon": float(horizon),
        "warmup": float(warmup),
        "decay": float(max(1, horizon - warmup)),
        "half": float(horizon // 2),
        "three_quarters": float(3 * horizon // 4),
    }


def keras_schedule(config: dict[str, Any], steps_per_epoch: int) -> Any:
    """The same rate for the Keras optimizer: a float, or one of Keras's own schedules (so that a
    saved model loads in safe mode)."""
    kind = config.get("lr_schedule", "constant")
    rate = float(config.get("learning_rate", 1e-3))
    if kind == "constant":
        return rate
    from tuner.training.backend import keras

    schedules = keras.optimizers.schedules
    horizon = _horizon(config, steps_per_epoch)
    if kind == "cosine":
        return schedules.CosineDecay(rate, decay_steps=horizon, alpha=0.0)
    if kind == "one_cycle":
        warmup = _warmup(horizon)
        return schedules.CosineDecay(
            rate / 10, decay_steps=max(1, horizon - warmup), alpha=0.0, warmup_target=rate, warmup_steps=warmup
        )
    return schedules.PiecewiseConstantDecay([horizon // 2, 3 * horizon // 4], [rate, rate / 10, rate / 100])
