"""Read a search-space YAML file (built-in name or path) into a validated `Space`."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from tuner.data.catalog import NAMED
from tuner.errors import CnnTuneError
from tuner.space.objectives import get_objective
from tuner.space.params import Param, parse_param
from tuner.space.rules import parse_constraint, parse_stop
from tuner.space.space import Space
from tuner.training.architecture import hyperparameter_type

__all__ = ["builtin_dir", "builtin_spaces", "load_space", "parse_space"]

_TOP_KEYS = ("name", "description", "dataset", "params", "constraints", "stop", "objective", "data", "search")


def builtin_dir() -> Path:
    """The folder of built-in spaces: inside the installed package, or beside it in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "search_spaces", here.parent / "search_spaces"):
        if candidate.is_dir():
            return candidate
    raise CnnTuneError("the built-in search spaces are missing from this installation; reinstall cnn-tune")


def builtin_spaces() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_dir().glob("*.yaml"))}


def _did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean `{close[0]}`?" if close else f"; allowed: {', '.join(sorted(options))}"


def load_space(name_or_path: str | Path) -> Space:
    """Load a built-in space by name, or a YAML file by path."""
    text = str(name_or_path)
    builtins = builtin_spaces()
    if text in builtins:
        path = builtins[text]
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            hint = difflib.get_close_matches(text, list(builtins), n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            raise CnnTuneError(
                f"space {text!r} is neither a built-in space nor a file; {suggestion}"
                f"built-in spaces: {', '.join(builtins)} (`cnn-tune spaces` lists them)"
            )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise CnnTuneError(f"{path}: YAML syntax error{at}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CnnTuneError(f"{path}: cannot read the space file: {exc}") from None
    return parse_space(raw, source=str(path), default_name=path.stem)


def _expand_per_layer(param: Param, depth: Param | None, where: str) -> list[Param]:
    """`filters: {..., per_layer: true}` becomes filters_1..filters_N, filters_K existing when conv_layers >= K."""
    from tuner.space.params import Condition

    if depth is None:
        raise CnnTuneError(f"{where}: `per_layer` needs params.conv_layers declared before it")
    deepest = int(max(depth.corners()))
    expanded = []
    for layer in range(1, deepest + 1):
        when = None if layer <= int(min(depth.corners())) else Condition("conv_layers", ">=", layer)
        expanded.append(Param(**{**param.__dict__, "name": f"{param.name}_{layer}", "when": when}))
    return expanded


def _parse_params(raw: Any, source: str) -> tuple[Param, ...]:
    if not isinstance(raw, dict) or not raw:
        raise CnnTuneError(f"{source}: params: expected a mapping of hyperparameters, got {raw!r}")
    params: list[Param] = []
    for name, spec in raw.items():
        where = f"{source}: params.{name}"
        kind = hyperparameter_type(str(name))
        if kind is None:
            from tuner.training.architecture import HYPERPARAMETERS

            raise CnnTuneError(
                f"{where}: unknown hyperparameter `{name}`{_did_you_mean(str(name), tuple(HYPERPARAMETERS))}"
            )
        param, per_layer = parse_param(str(name), spec, where)
        if param.when is not None and not any(p.name == param.when.param for p in params):
            raise CnnTuneError(f"{where}: `when` refers to `{param.when.param}`, which must be declared above `{name}`")
        values = param.values() or [param.low, param.high]
        for value in values:
            problem = kind.check(value)
            if problem:
                raise CnnTuneError(f"{where}: {problem}")
        if per_layer:
            if name != "filters":
                raise CnnTuneError(f"{where}: `per_layer` applies to `filters` only")
            depth = next((p for p in params if p.name == "conv_layers"), None)
            params.extend(_expand_per_layer(param, depth, where))
        else:
            params.append(param)
    return tuple(params)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CnnTuneError(f"{where}: must be a whole number of at least 1, got {value!r}")
    return value


def _parse_start(raw: Any, params: tuple[Param, ...], where: str) -> list[dict[str, Any]]:
    """`search.start`: configurations tried first, before the sampler proposes (a known good answer)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(entry, dict) and entry for entry in raw):
        raise CnnTuneError(f"{where}: give a list of configurations, such as [{{filters: 32, batch_size: 32}}]")
    by_name = {p.name: p for p in params}
    for i, entry in enumerate(raw):
        for name, value in entry.items():
            param = by_name.get(str(name))
            if param is None:
                raise CnnTuneError(
                    f"{where}[{i}]: `{name}` is not a parameter of this space{_did_you_mean(str(name), tuple(by_name))}"
                )
            if not param.allows(value):
                raise CnnTuneError(f"{where}[{i}].{name}: {value!r} is outside params.{name} ({param.describe()})")
    return [{str(k): v for k, v in entry.items() if by_name[str(k)].searched} for entry in raw]


def parse_space(raw: Any, source: str, default_name: str = "space") -> Space:
    """Validate the YAML data of a space; every problem names the file, the key and the rule."""
    if not isinstance(raw, dict):
        raise CnnTuneError(f"{source}: a space file holds a mapping (name, dataset, params, ...), got {raw!r}")
    for key in raw:
        if key not in _TOP_KEYS:
            raise CnnTuneError(f"{source}: unknown key `{key}`{_did_you_mean(str(key), _TOP_KEYS)}")
    dataset = raw.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise CnnTuneError(f"{source}: dataset: give a dataset name ({', '.join(NAMED)}) or a path")
    params = _parse_params(raw.get("params"), source)
    constraints_raw = raw.get("constraints", [])
    if not isinstance(constraints_raw, list):
        raise CnnTuneError(
            f"{source}: constraints: expected a list such as [conv_layers == 1], got {constraints_raw!r}"
        )
    constraints = tuple(parse_constraint(c, f"{source}: constraints[{i}]") for i, c in enumerate(constraints_raw))
    stop = parse_stop(raw["stop"], f"{source}: stop") if raw.get("stop") is not None else None
    objective_name = raw.get("objective", "epochs_to_threshold" if stop else "val_accuracy")
    try:
        objective = get_objective(str(objective_name))
    except CnnTuneError as exc:
        raise CnnTuneError(f"{source}: objective: {exc}") from None
    if objective.needs_stop and stop is None:
        raise CnnTuneError(f"{source}: objective `{objective.name}` needs a `stop:` rule with metric and threshold")
    data = raw.get("data", {}) or {}
    if not isinstance(data, dict) or set(data) - {"validation_split", "seed", "color", "image_size"}:
        raise CnnTuneError(
            f"{source}: data: allowed keys are validation_split, seed, color and image_size, got {data!r}"
        )
    color = data.get("color", "grayscale")
    if color not in ("grayscale", "rgb"):
        raise CnnTuneError(f"{source}: data.color: must be grayscale or rgb, got {color!r}")
    size = data.get("image_size")
    if size is not None and (
        not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and 0 < v <= 1024 for v in size)
    ):
        raise CnnTuneError(f"{source}: data.image_size: give [height, width] in pixels, such as [64, 64], got {size!r}")
    split = data.get("validation_split", 0.1)
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 0.9:
        raise CnnTuneError(f"{source}: data.validation_split: must lie between 0 and 0.9, got {split!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CnnTuneError(f"{source}: data.seed: must be a whole number, got {seed!r}")
    search = raw.get("search", {}) or {}
    if not isinstance(search, dict) or set(search) - {"trials", "start"}:
        raise CnnTuneError(f"{source}: search: the allowed keys are trials and start, got {search!r}")
    trials = _positive_int(search.get("trials", 20), f"{source}: search.trials")
    start = _parse_start(search.get("start"), params, f"{source}: search.start")
    name = raw.get("name", default_name)
    space = Space(
        name=str(name),
        description=str(raw.get("description", "")).strip(),
        source=source,
        dataset=dataset,
        params=params,
        constraints=constraints,
        stop=stop,
        objective=objective,
        validation_split=float(split),
        data_seed=seed,
        color=color,
        image_size=tuple(size) if size else None,
        trials=trials,
        raw=raw,
    ).with_start(start)
    named = NAMED.get(dataset)
    space.check_constraints(
        space.image_shape(named.input_shape if named else None), len(named.class_names) if named else None
    )
    return space
