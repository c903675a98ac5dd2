"""Stratified subsets and splits with a fixed seed, and the data fingerprint."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["fingerprint", "fingerprint_rows", "stratified_split", "stratified_subset"]


def stratified_subset(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of `size` samples with the class proportions of `y`, sorted."""
    if size >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    # Largest-remainder apportionment keeps the total exact and every class present where it can be.
    quotas = counts * size / len(y)
    take = np.floor(quotas).astype(int)
    for i in np.argsort(-(quotas - take))[: size - take.sum()]:
        take[i] += 1
    chosen = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(chosen))


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices, `fraction` of each class held out for validation."""
    held = stratified_subset(y, max(1, round(len(y) * fraction)), seed)
    mask = np.ones(len(y), dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask), held


def fingerprint(*arrays: np.ndarray) -> str:
    """A short SHA-256 of the arrays' shapes and bytes: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str((a.shape, a.dtype.str)).encode())
        digest.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)
    return digest.hexdigest()[:16]


def fingerprint_rows(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, block: int = 1024) -> str:
    """`fingerprint(x[train], y[train], x[test], y[test])`, reading `block` rows at a time instead of
    copying the splits (x may be a memory-mapped file larger than memory)."""
    digest = hashlib.sha256()
    for a, rows in ((x, train), (y, train), (x, test), (y, test)):
        digest.update(str(((len(rows), *a.shape[1:]), a.dtype.str)).encode())
        for start in range(0, len(rows), block):
            digest.update(np.ascontiguousarray(a[rows[start : start + block]]).reshape(-1).view(np.uint8).data)
    return digest.hexdigest()[:16]
