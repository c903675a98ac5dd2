"""Keras callbacks of a trial: the course's threshold stop and the per-epoch monitor."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from tuner.errors import TrialFailed
from tuner.space.rules import StopRule
from tuner.training.backend import keras

__all__ = ["EpochMonitor", "ThresholdStop"]


class ThresholdStop(keras.callbacks.Callback):
    """The course's callback: once the metric reaches the threshold, say so and stop training."""

    def __init__(self, rule: StopRule, say: Callable[[str], None] = print) -> None:
        super().__init__()
        self.rule = rule
        self.say = say
        self.reached_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.reached_epoch is None and self.rule.reached((logs or {}).get(self.rule.metric)):
            self.reached_epoch = epoch + 1
            self.say(self.rule.message)
            self.model.stop_training = True


class EpochMonitor(keras.callbacks.Callback):
    """Times each epoch, keeps the history, fails on NaN loss and hands each epoch to `on_epoch`.

    It does nothing per batch. `on_epoch(epoch, logs)` may raise StopTrial to end the trial.
    """

    def __init__(
        self,
        threshold: ThresholdStop | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        super().__init__()
        self.threshold = threshold
        self.on_epoch = on_epoch
        self.history: list[dict[str, float]] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = time.perf_counter() - self._started
        row = {key: float(value) for key, value in (logs or {}).items()}
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, **row, "seconds": seconds}
        self.history.append(row)
        loss = row.get("loss", 0.0)
        if math.isnan(loss) or math.isinf(loss):
            raise TrialFailed(f"loss became {loss} at epoch {epoch + 1}")
        # The threshold stop runs before this monitor, so a trial that just reached it is not pruned.
        if self.on_epoch is not None and not (self.threshold and self.threshold.reached_epoch):
            self.on_epoch(epoch + 1, row)
