"""A space as a table: every distinct configuration its discrete values make, in a seeded order."""

from __future__ import annotations

import itertools
import random
from typing import Any

from tuner.errors import CnnTuneError
from tuner.space.space import Space

__all__ = ["grid_points", "grid_values"]


def grid_values(space: Space) -> dict[str, list[Any]]:
    """Every value of each searched parameter; a continuous range has none to list."""
    grid = {}
    for p in space.searched:
        values = p.values()
        if values is None:
            raise CnnTuneError(
                f"{space.source}: params.{p.name}: grid search needs discrete values; "
                "give the float range a `step` or use `choice`"
            )
        grid[p.name] = values
    return grid


def grid_points(space: Space, seed: int = 0) -> list[dict[str, Any]]:
    """The searched values of every distinct model of the grid, shuffled by `seed`.

    Points that differ only in a parameter whose `when` does not hold (lr_patience while
    lr_annealing is off) build the same model: only the first of them stays, and it holds
    only the parameters that are active.
    """
    grid = grid_values(space)
    names = list(grid)
    seen, points = set(), []
    for combo in itertools.product(*(grid[n] for n in names)):
        config = space.resolve(dict(zip(names, combo, strict=True)))
        key = tuple(sorted((k, repr(v)) for k, v in config.items()))
        if key not in seen:
            seen.add(key)
            points.append({n: config[n] for n in names if n in config})
    random.Random(seed).shuffle(points)
    return points
