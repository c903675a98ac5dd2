"""Batches of `Rows` for Keras: each batch gathered from the (memory-mapped) images when it is
needed, in an order drawn from the trial's seed, with the next batches read ahead on threads.

A dataset that does not fit in memory trains this way too: only the batches in flight are held,
and the operating system pages the cache file in and out. Every worker that maps the same cache
file shares one copy of it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tuner.data import Dataset, Rows
from tuner.training.backend import keras

__all__ = ["READ_AHEAD", "TEST_PIXELS", "Batches", "fit_inputs", "test_batch", "test_inputs"]

READ_AHEAD = 8  # batches gathered ahead of the step that needs them


class Batches(keras.utils.PyDataset):  # type: ignore[misc]
    """`(x, y)` in batches of `batch_size` (the first one shorter when they do not divide evenly);
    with `seed`, a new permutation each epoch (epoch k's drawn from (seed, k), so a trial
    reproduces), else in order."""

    def __init__(self, x: Rows, y: np.ndarray, batch_size: int, seed: int | None = None) -> None:
        super().__init__(workers=2, use_multiprocessing=False, max_queue_size=READ_AHEAD)
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if self.seed is None:
            return np.arange(len(self.y))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.y))

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        # The short batch comes first: Keras takes the TensorFlow signature from the first two
        # batches, and two full ones would fix the batch size and trace the step again for it.
        first = len(self.y) - (len(self) - 1) * self.batch_size
        start = 0 if i == 0 else first + (i - 1) * self.batch_size
        rows = self.order[start : first if i == 0 else start + self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        # Keras calls this after its read-ahead threads have stopped, so no batch of the next epoch
        # is gathered in the old order.
        self.epoch += 1
        self.order = self._order()


def fit_inputs(dataset: Dataset, batch_size: int, seed: int) -> dict[str, Any]:
    """What `model.fit` takes for `dataset`'s training and validation images: arrays (Keras
    batches and shuffles them), or `Batches` of `Rows`."""
    if not isinstance(dataset.x_train, Rows):
        return {
            "x": dataset.x_train,
            "y": dataset.y_train,
            "batch_size": batch_size,
            "validation_data": (dataset.x_val, dataset.y_val),
            "shuffle": True,
        }
    assert isinstance(dataset.x_val, Rows)
    return {
        "x": Batches(dataset.x_train, dataset.y_train, batch_size, seed),
        "validation_data": Batches(dataset.x_val, dataset.y_val, batch_size),
        "shuffle": False,
    }


TEST_PIXELS = 1 << 20  # a test batch holds about this many pixels: 1,024 images of 32x32, 20 of 224x224


def test_batch(dataset: Dataset, batch_size: int) -> int:
    """The test set's batch: up to 1,024 images, fewer of larger ones (the activations of 1,024
    224x224 images through a convnet's first block alone take gigabytes), never fewer than training's."""
    height, width = dataset.input_shape[:2]
    return max(batch_size, min(1024, TEST_PIXELS // (height * width)))


def test_inputs(dataset: Dataset, batch_size: int) -> dict[str, Any]:
    """What `model.evaluate` takes for `dataset`'s test images."""
    batch = test_batch(dataset, batch_size)
    if not isinstance(dataset.x_test, Rows):
        return {"x": dataset.x_test, "y": dataset.y_test, "batch_size": batch}
    return {"x": Batches(dataset.x_test, dataset.y_test, batch)}
