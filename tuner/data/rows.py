"""A split of an image array that is not copied: rows of a source array (a memory-mapped cache
file, shared by every process that maps it), gathered only when a batch asks for them."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Rows"]


class Rows:
    """Rows `index` of `source` as (N, H, W, C) images: `source` (N, H, W) gains a channel axis.
    Indexing with an integer, a slice or an array of positions gathers those rows into memory;
    `np.asarray(rows)` gathers them all."""

    def __init__(self, source: np.ndarray, index: np.ndarray) -> None:
        self.source = source
        self.index = np.asarray(index, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        image = self.source.shape[1:]
        return (len(self.index), *image, *(() if len(image) == 3 else (1,)))

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.source.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.source.dtype.itemsize

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self.index[key]
        if np.ndim(rows) == 0:
            return self[np.asarray([rows])][0]
        order = np.argsort(rows, kind="stable")  # read the file forwards, hand the rows back as asked
        gathered = np.empty((len(rows), *self.source.shape[1:]), dtype=self.source.dtype)
        gathered[order] = self.source[rows[order]]
        return gathered if gathered.ndim == 4 else gathered[..., np.newaxis]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        gathered = self[:]
        return gathered if dtype is None else gathered.astype(dtype)
