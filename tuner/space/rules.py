"""Constraints a model must keep, and the stop rule that ends a trial at a threshold."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.errors import CnnTuneError

__all__ = ["COMPARISONS", "QUANTITIES", "STOP_METRICS", "Constraint", "StopRule", "parse_constraint", "parse_stop"]

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "in": lambda a, b: a in b,
}
QUANTITIES = ("conv_layers", "pool_layers", "dense_layers", "epochs", "params")
STOP_METRICS = ("accuracy", "val_accuracy", "loss", "val_loss")
_RULE = re.compile(r"^\s*([A-Za-z_]\w*)\s*(==|<=|>=|<|>)\s*([0-9_.eE+-]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """`quantity op value`, e.g. `conv_layers == 1` or `params <= 500000`."""

    quantity: str
    op: str
    value: float

    def holds(self, actual: float) -> bool:
        return bool(COMPARISONS[self.op](actual, self.value))

    def __str__(self) -> str:
        return f"{self.quantity} {self.op} {self.value:g}"


@dataclass(frozen=True)
class StopRule:
    """Stop a trial once `metric` reaches `threshold` at the end of an epoch, printing `message`."""

    metric: str
    threshold: float
    message: str

    @property
    def higher_is_better(self) -> bool:
        return "loss" not in self.metric

    def reached(self, value: float | None) -> bool:
        if value is None:
            return False
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def shortfall(self, value: float | None) -> float:
        """How far `value` is from the threshold (0 once reached)."""
        if value is None:
            return float("inf")
        gap = self.threshold - value if self.higher_is_better else value - self.threshold
        return max(gap, 0.0)

    def shortfalls(self, values: np.ndarray) -> np.ndarray:
        """`shortfall` of each value at once (NaN for no value)."""
        gap = self.threshold - values if self.higher_is_better else values - self.threshold
        return np.where(np.isnan(values), np.inf, np.maximum(gap, 0.0))


def parse_constraint(text: Any, where: str) -> Constraint:
    match = _RULE.match(text) if isinstance(text, str) else None
    if match is None:
        raise CnnTuneError(f"{where}: a constraint reads `QUANTITY OP NUMBER` such as `conv_layers == 1`, got {text!r}")
    quantity, op, raw = match.groups()
    if quantity not in QUANTITIES:
        raise CnnTuneError(f"{where}: unknown quantity `{quantity}`; choose from: {', '.join(QUANTITIES)}")
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        raise CnnTuneError(f"{where}: `{raw}` is not a number in {text!r}") from None
    return Constraint(quantity, op, value)


def parse_stop(spec: Any, where: str) -> StopRule:
    if not isinstance(spec, dict):
        raise CnnTuneError(f"{where}: expected a mapping with metric, threshold and message, got {spec!r}")
    unknown = sorted(set(spec) - {"metric", "threshold", "message"})
    if unknown:
        raise CnnTuneError(f"{where}: unknown key `{unknown[0]}`; allowed: message, metric, threshold")
    metric = spec.get("metric", "accuracy")
    if metric not in STOP_METRICS:
        raise CnnTuneError(
            f"{where}.metric: the model does not report {metric!r}; choose from: {', '.join(STOP_METRICS)}"
        )
    threshold = spec.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise CnnTuneError(f"{where}.threshold: must be a number, got {threshold!r}")
    if "accuracy" in metric and not 0 < threshold <= 1:
        raise CnnTuneError(f"{where}.threshold: an accuracy threshold lies in (0, 1], got {threshold}")
    default = (
        f"Reached {threshold:.1%} {metric} so cancelling training!"
        if "accuracy" in metric
        else f"Reached {metric} {threshold:g} so cancelling training!"
    )
    message = spec.get("message", default)
    if not isinstance(message, str):
        raise CnnTuneError(f"{where}.message: must be text, got {message!r}")
    return StopRule(metric, float(threshold), message)
