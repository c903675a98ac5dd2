"""The engine-neutral record of one trial: what every engine hands to the store and the reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RESULT_FIELDS", "TrialRecord", "TrialResult", "trial_seed"]

# The result columns of trials.csv, in order (the trainer's TrialResult without its history).
RESULT_FIELDS = (
    "epochs_run",
    "kept_epoch",
    "reached_threshold",
    "epochs_to_threshold",
    "seconds_to_threshold",
    "best_stop_metric",
    "train_accuracy",
    "train_loss",
    "val_accuracy",
    "val_loss",
    "test_accuracy",
    "test_loss",
    "conv_layers",
    "pool_layers",
    "param_count",
    "fit_seconds",
    "seconds_per_epoch",
)


@dataclass
class TrialResult:
    """What one trial produced. `state` is complete, pruned or failed."""

    state: str = "complete"
    fail_reason: str | None = None
    epochs_run: int = 0
    kept_epoch: int | None = None  # the epoch whose weights and numbers the trial kept (None: the last)
    reached_threshold: bool = False
    epochs_to_threshold: int | None = None
    seconds_to_threshold: float | None = None
    best_stop_metric: float | None = None
    train_accuracy: float | None = None
    train_loss: float | None = None
    val_accuracy: float | None = None
    val_loss: float | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    conv_layers: int | None = None
    pool_layers: int | None = None
    param_count: int | None = None
    fit_seconds: float = 0.0
    seconds_per_epoch: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrialRecord:
    """One trial as recorded: searched params, full config, seed, result, per-epoch history."""

    trial: int
    state: str
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    value: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    fail_reason: str | None = None
    started: str | None = None
    finished: str | None = None


def trial_seed(base_seed: int, number: int) -> int:
    """The training seed of trial `number`: fixed by the run's seed, different for every trial."""
    return (base_seed * 1_000_003 + number) % (2**31 - 1)
