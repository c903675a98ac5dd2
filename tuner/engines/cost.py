"""What a trial costs: its seconds per epoch, predicted from its model's layer plan and fitted to the
epochs the search has timed so far.

An epoch's seconds are close to the sum of three parts: a fixed cost per training step (so a share
of 1 / batch_size of the images), the multiply-adds per image of the Conv2D and Dense layers, and
batch normalisation's passes over the convolution's output. How much each weighs is the machine's
(a GPU's steps cost little next to a CPU's, its multiply-adds less still), so the three weights are
fitted, none negative, to the trials already timed. How well a fit to a search's first trials
predicts its later ones is measured on the recorded exercise3 searches in
reports/benchmarks-history.md (the cost-tpe run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.training.architecture import HYPERPARAMETERS, layer_plan, plan_work

__all__ = ["MIN_TIMED", "CostModel", "epoch_seconds", "features"]

MIN_TIMED = 4  # trials timed before the three weights are fitted (fewer would fit any numbers)


def epoch_seconds(history: Sequence[dict[str, Any]]) -> float | None:
    """A trial's seconds per epoch: the median after its first epoch (which also builds and compiles
    the model), or the first alone; None for a trial with no timed epoch."""
    seconds = [float(row["seconds"]) for row in history if row.get("seconds")]
    later = seconds[1:] or seconds
    return float(np.median(later)) if later else None


def features(config: dict[str, Any], input_shape: tuple[int, ...], classes: int) -> np.ndarray | None:
    """Steps per image, millions of multiply-adds per image, tens of thousands of normalised values per
    image; None for a configuration that builds no model on these images."""
    try:
        work = plan_work(layer_plan(config, input_shape, classes))
    except (ValueError, KeyError, TypeError):
        return None
    batch = float(config.get("batch_size", HYPERPARAMETERS["batch_size"].default))
    return np.array([1.0 / batch, work["macs"] / 1e6, work["normalised"] / 1e4])


@dataclass(frozen=True)
class CostModel:
    """Seconds per epoch as a non-negative weighting of `features`, for images of one shape."""

    weights: np.ndarray
    input_shape: tuple[int, ...]
    classes: int

    @classmethod
    def fit(
        cls, timed: Sequence[tuple[dict[str, Any], float]], input_shape: tuple[int, ...], classes: int
    ) -> CostModel | None:
        """Fitted to (config, seconds per epoch) pairs; None until `MIN_TIMED` of them describe a model."""
        rows = [(f, s) for config, s in timed if s > 0 and (f := features(config, input_shape, classes)) is not None]
        return cls.fit_rows(rows, input_shape, classes)

    @classmethod
    def fit_rows(
        cls, rows: Sequence[tuple[np.ndarray, float]], input_shape: tuple[int, ...], classes: int
    ) -> CostModel | None:
        """Fitted to (features, seconds per epoch) pairs already computed; None until `MIN_TIMED`."""
        from scipy.optimize import nnls  # only a search that weighs costs pays for importing scipy

        if len(rows) < MIN_TIMED:
            return None
        weights, _ = nnls(np.array([f for f, _ in rows]), np.array([s for _, s in rows]))
        return cls(weights, tuple(input_shape), classes) if weights.any() else None

    def predict(self, config: dict[str, Any]) -> float | None:
        """Predicted seconds per epoch of `config` (None if it builds no model or costs nothing)."""
        f = features(config, self.input_shape, self.classes)
        if f is None:
            return None
        seconds = float(f @ self.weights)
        return seconds if seconds > 0 else None
