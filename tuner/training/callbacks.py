"""Keras callbacks of a trial: the course's threshold stop, the best epoch kept, the per-epoch monitor."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from tuner.errors import TrialFailed
from tuner.space.rules import StopRule
from tuner.training.backend import keras

__all__ = ["BestEpoch", "EpochMonitor", "ThresholdStop"]


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


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best `metric` (higher is better for accuracies, lower
    for losses, as Keras's mode "auto" decides) and, with `patience`, ends training once that many
    epochs in a row have not improved on it: `EarlyStopping(restore_best_weights=True)`, with the
    restoring left to the trainer (`restore`), so that a pruned trial keeps its best epoch too."""

    def __init__(self, metric: str, patience: int = 0) -> None:
        super().__init__()
        self.metric = metric
        self.patience = patience
        self.higher_is_better = "acc" in metric
        self.epoch: int | None = None  # the best epoch so far, from 1
        self.best: float | None = None
        self.stopped_epoch: int | None = None
        self._weights: list[Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.metric)
        if value is None or math.isnan(value):
            return
        better = self.best is None or (value > self.best if self.higher_is_better else value < self.best)
        if better:
            self.best, self.epoch = float(value), epoch + 1
            self._weights = self.model.get_weights()
        elif self.patience and self.epoch is not None and epoch + 1 - self.epoch >= self.patience:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True

    def restore(self, model: Any, epochs_run: int) -> int | None:
        """Put the best epoch's weights back when a later epoch ran; the epoch kept, or None."""
        if self.epoch is None or self._weights is None:
            return None
        if self.epoch < epochs_run:
            model.set_weights(self._weights)
        return self.epoch


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
