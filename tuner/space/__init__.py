"""Search spaces: YAML files declaring hyperparameters, constraints, a stop rule and an objective."""

from __future__ import annotations

from tuner.space.loader import builtin_spaces, load_space, parse_space
from tuner.space.params import Condition, Param
from tuner.space.rules import Constraint, StopRule
from tuner.space.space import Space

__all__ = [
    "Condition",
    "Constraint",
    "Param",
    "Space",
    "StopRule",
    "builtin_spaces",
    "load_space",
    "parse_space",
]
