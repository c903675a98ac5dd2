"""Pruners by name: objects that stop a trial early, composed with `+` (`exact+median`)."""

from __future__ import annotations

from tuner.choices import PRUNER_NAMES, check_pruner
from tuner.pruners.base import Chain, NoPruner, Progress, Pruner, intermediate_values
from tuner.pruners.curve import CurveBound, finished_value, predicted_epoch, ranking_value
from tuner.pruners.exact import ExactStop, fastest, threshold_key
from tuner.pruners.hyperband import Hyperband
from tuner.pruners.ladder import Ladder
from tuner.pruners.median import MedianStop
from tuner.space import Space

__all__ = [
    "PRUNERS",
    "Chain",
    "CurveBound",
    "ExactStop",
    "Hyperband",
    "Ladder",
    "MedianStop",
    "NoPruner",
    "Progress",
    "Pruner",
    "default_pruner",
    "fastest",
    "finished_value",
    "intermediate_values",
    "make_pruner",
    "predicted_epoch",
    "ranking_value",
    "threshold_key",
]

PRUNERS: dict[str, type[Pruner]] = {p.name: p for p in (ExactStop, CurveBound, Ladder, MedianStop, Hyperband, NoPruner)}
assert tuple(PRUNERS) == PRUNER_NAMES, "tuner.choices lists the pruners by name"


def default_pruner(space: Space, grid: bool = False) -> str:
    """For threshold objectives exact stopping with the curve bound and, until a trial meets the stop
    rule, the epoch budget's ladder (not for a grid, whose every row is a question asked); otherwise
    median, and a grid (a table) trains every row in full."""
    if space.objective.needs_stop:
        return "exact+curve" if grid else "exact+curve+ladder"
    return "none" if grid else "median"


def make_pruner(name: str, space: Space) -> Pruner:
    """The pruner `name` for `space`; `a+b` asks a, then b."""
    pruners = [PRUNERS[p](space) for p in check_pruner(name)]
    return pruners[0] if len(pruners) == 1 else Chain(space, pruners)
