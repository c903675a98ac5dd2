"""One hyperparameter of a search space: fixed, a choice, or an int/float range, maybe conditional."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tuner.errors import CnnTuneError
from tuner.space.rules import COMPARISONS

__all__ = ["Condition", "Param", "parse_condition", "parse_param"]

_CONDITION = re.compile(r"^\s*([A-Za-z_]\w*)\s*(==|!=|<=|>=|<|>|\bin\b)\s*(.+?)\s*$")
_SPEC_KEYS = {"choice", "int", "float", "log", "step", "when", "per_layer"}


@dataclass(frozen=True)
class Condition:
    """`param op value`: the parameter exists only in configurations where this holds."""

    param: str
    op: str
    value: Any

    def holds(self, config: dict[str, Any]) -> bool:
        return self.param in config and bool(COMPARISONS[self.op](config[self.param], self.value))

    def __str__(self) -> str:
        return f"{self.param} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Param:
    """A hyperparameter as declared: kind is fixed, choice, int or float."""

    name: str
    kind: str
    value: Any = None
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    when: Condition | None = None

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"

    def values(self) -> list[Any] | None:
        """Every value the parameter can take, or None for a continuous range."""
        if self.kind == "fixed":
            return [self.value]
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step is not None:
            count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
            return [round(self.low + i * self.step, 12) for i in range(count)]
        return None

    def allows(self, value: Any) -> bool:
        """Whether `value` is one this parameter can take."""
        if self.kind in ("fixed", "choice"):
            return any(_same(value, v) for v in self.values() or [])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        inside = self.low <= value <= self.high
        if not inside or self.step is None:
            return inside
        return math.isclose((value - self.low) / self.step, round((value - self.low) / self.step), abs_tol=1e-9)

    def corners(self, limit: int = 16) -> list[Any]:
        """The values worth trying when looking for the extremes a model can reach."""
        values = self.values()
        if values is not None and len(values) <= limit:
            return values
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def describe(self) -> str:
        if self.kind == "fixed":
            text = repr(self.value)
        elif self.kind == "choice":
            text = "choice " + ", ".join(repr(c) for c in self.choices)
        else:
            text = f"{self.kind} {self.low:g}..{self.high:g}"
            if self.step is not None:
                text += f" step {self.step:g}"
            if self.log:
                text += " (log)"
        if self.when is not None:
            text += f" when {self.when}"
        return text


def _same(a: Any, b: Any) -> bool:
    """Equal as YAML values: 32 and 32.0 are, 1 and true are not."""
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    return a == b if numbers else (type(a) is type(b) and a == b)


def parse_condition(text: Any, where: str) -> Condition:
    """Parse `conv_layers >= 2`; the value is read as YAML data, never executed."""
    match = _CONDITION.match(text) if isinstance(text, str) else None
    if match is None:
        raise CnnTuneError(
            f"{where}: `when` must read `PARAM OP VALUE` (OP one of {', '.join(COMPARISONS)}), got {text!r}"
        )
    name, op, raw = match.groups()
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise CnnTuneError(f"{where}: cannot read the value {raw!r} in `when: {text}`") from None
    if op == "in" and not isinstance(value, list):
        raise CnnTuneError(f"{where}: `in` needs a list such as [1, 2], got {raw!r}")
    return Condition(name, op.strip(), tuple(value) if op == "in" else value)


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CnnTuneError(f"{where}: `{key}` must be a number, got {value!r}")
    return value


def _range(name: str, kind: str, spec: dict[str, Any], where: str) -> Param:
    bounds = spec[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise CnnTuneError(f"{where}: `{kind}` must be [low, high], got {bounds!r}")
    low, high = (_number(b, where, kind) for b in bounds)
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise CnnTuneError(f"{where}: `int` bounds must be whole numbers, got low={low}, high={high}")
    if low > high:
        raise CnnTuneError(f"{where}: `low <= high` must hold, got low={low}, high={high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise CnnTuneError(f"{where}: `log` must be true or false, got {log!r}")
    if log and low <= 0:
        raise CnnTuneError(f"{where}: a log range must stay above 0, got low={low}")
    step = spec.get("step")
    if step is not None:
        step = _number(step, where, "step")
        if step <= 0:
            raise CnnTuneError(f"{where}: `step` must be above 0, got {step}")
        if log and not (kind == "int" and step == 1):
            raise CnnTuneError(f"{where}: `step` and `log` cannot be combined (optuna forbids it)")
        if kind == "int" and not float(step).is_integer():
            raise CnnTuneError(f"{where}: an `int` step must be a whole number, got {step}")
    if kind == "int":
        return Param(name, "int", low=int(low), high=int(high), step=None if step is None else int(step), log=log)
    return Param(name, "float", low=float(low), high=float(high), step=step, log=log)


def parse_param(name: str, spec: Any, where: str) -> tuple[Param, bool]:
    """Parse one `params:` entry; the flag says whether it is declared `per_layer`."""
    if spec is None or isinstance(spec, (bool, int, float, str)):
        return Param(name, "fixed", value=spec), False
    if isinstance(spec, list):
        raise CnnTuneError(f"{where}: a list is ambiguous; write `{{choice: {spec}}}` to search over it")
    if not isinstance(spec, dict):
        raise CnnTuneError(f"{where}: expected a value or a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        raise CnnTuneError(f"{where}: unknown key `{unknown[0]}`; allowed: {', '.join(sorted(_SPEC_KEYS))}")
    kinds = [k for k in ("choice", "int", "float") if k in spec]
    if len(kinds) != 1:
        raise CnnTuneError(f"{where}: give exactly one of `choice`, `int` or `float`, got {kinds or 'none'}")
    kind = kinds[0]
    if kind == "choice":
        choices = spec["choice"]
        if not isinstance(choices, list) or not choices:
            raise CnnTuneError(f"{where}: `choice` must be a non-empty list, got {choices!r}")
        if any(not isinstance(c, (bool, int, float, str)) for c in choices):
            raise CnnTuneError(f"{where}: choices must be numbers or strings, got {choices!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise CnnTuneError(f"{where}: `choice` lists a value twice: {choices!r}")
        if "log" in spec or "step" in spec:
            raise CnnTuneError(f"{where}: `log` and `step` apply to int and float ranges, not `choice`")
        param = Param(name, "choice", choices=tuple(choices))
    else:
        param = _range(name, kind, spec, where)
    if "when" in spec:
        param = Param(**{**param.__dict__, "when": parse_condition(spec["when"], where)})
    per_layer = spec.get("per_layer", False)
    if not isinstance(per_layer, bool):
        raise CnnTuneError(f"{where}: `per_layer` must be true or false, got {per_layer!r}")
    return param, per_layer
