"""A loaded search space: its parameters, constraints, stop rule and objective."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tuner.errors import CnnTuneError
from tuner.space.objectives import LEGACY_VALUES, VALUES, Objective
from tuner.space.params import Param
from tuner.space.rules import Constraint, StopRule
from tuner.training.architecture import HYPERPARAMETERS, layer_plan, plan_counts

__all__ = ["Space"]

_ARCHITECTURE = (
    "conv_layers",
    "filters",
    "kernel_size",
    "padding",
    "pooling",
    "pool_size",
    "dense_layers",
    "dense_units",
)
_MAX_COMBINATIONS = 50_000


@dataclass(frozen=True)
class Space:
    """A validated search space. `params` are in declaration order; conditions refer to earlier ones."""

    name: str
    description: str
    source: str
    dataset: str
    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...]
    stop: StopRule | None
    objective: Objective
    validation_split: float = 0.1
    data_seed: int = 0
    color: str = "grayscale"
    image_size: tuple[int, int] | None = None
    trials: int = 20
    start: tuple[dict[str, Any], ...] = ()  # configurations tried first (search.start)
    values: str = VALUES  # how a trial that missed the threshold is valued (`missed_at`), or LEGACY_VALUES
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def searched(self) -> list[Param]:
        return [p for p in self.params if p.searched]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def resolve(self, sampled: dict[str, Any]) -> dict[str, Any]:
        """The full configuration: fixed values, sampled values, conditional ones only where active."""
        config: dict[str, Any] = {}
        for p in self.params:
            if p.when is not None and not p.when.holds(config):
                continue
            if p.kind == "fixed":
                config[p.name] = p.value
            elif p.name in sampled:
                config[p.name] = sampled[p.name]
            else:
                raise KeyError(f"no value for the searched parameter {p.name!r}")
        return config

    def image_shape(self, named_shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """The images the model sees: data.image_size and data.color when set, else the dataset's own."""
        if self.image_size is None:
            return named_shape
        return (*self.image_size, 3 if self.color == "rgb" else 1)

    def data_options(self) -> dict[str, Any]:
        """How load_dataset reads this space's data."""
        return {
            "validation_split": self.validation_split,
            "seed": self.data_seed,
            "color": self.color,
            "image_size": self.image_size,
        }

    def max_epochs(self) -> int:
        p = self.param("epochs")
        if p is None:
            return int(HYPERPARAMETERS["epochs"].default)
        return int(max(p.corners()))

    def missed_at(self, seconds_per_epoch: Iterable[float | None] = ()) -> float | None:
        """What a trial that never met the threshold is worth before its shortfall: one epoch past the
        space's largest epoch count (epochs objective), or that many epochs at the slowest seconds per
        epoch seen (`seconds_per_epoch`: the study's and the trial's; seconds objective), so that it
        ranks below the trials that met the rule. None for runs that keep the legacy constants."""
        if self.values == LEGACY_VALUES:
            return None
        epochs = self.max_epochs() + 1
        if self.objective.name == "time_to_threshold":
            return round(epochs * max((s for s in seconds_per_epoch if s and s > 0), default=1.0), 3)
        return float(epochs)

    def with_legacy_values(self, legacy: bool) -> Space:
        """The same space valuing missed trials as runs made before `missed_at` did (their resumes)."""
        return replace(self, values=LEGACY_VALUES if legacy else VALUES)

    def with_max_epochs(self, cap: int) -> Space:
        """The same space with every epoch count clipped to `cap` (the `--max-epochs` option)."""
        params = []
        for p in self.params:
            if p.name == "epochs":
                if p.kind == "fixed":
                    p = replace(p, value=min(int(p.value), cap))
                elif p.kind == "choice":
                    p = replace(p, choices=tuple(sorted({min(int(c), cap) for c in p.choices})))
                else:
                    p = replace(p, low=min(p.low, cap), high=min(p.high, cap))
            params.append(p)
        start = [{**e, "epochs": min(int(e["epochs"]), cap)} if "epochs" in e else e for e in self.start]
        return replace(self, params=tuple(params)).with_start(start)

    def with_values(self, pinned: dict[str, Any]) -> Space:
        """The same space with some parameters pinned to one of their values (the `--set` option)."""
        params = list(self.params)
        for name, value in pinned.items():
            index = next((i for i, p in enumerate(params) if p.name == name), None)
            if index is None:
                close = difflib.get_close_matches(name, [p.name for p in params], n=1)
                names = ", ".join(p.name for p in params)
                hint = f"did you mean `{close[0]}`?" if close else f"its parameters: {names}"
                raise CnnTuneError(f"the space {self.name} has no such parameter; {hint}", field=f"set {name}")
            param = params[index]
            if not param.allows(value):
                raise CnnTuneError(
                    f"not a value the space {self.name} allows (params.{name} is {param.describe()}); "
                    "pick one of those",
                    field=f"set {name}={value!r}",
                )
            params[index] = Param(name, "fixed", value=value, when=param.when)
        return replace(self, params=tuple(params)).with_start(
            [{k: v for k, v in entry.items() if k not in pinned} for entry in self.start]
        )

    def with_start(self, entries: list[dict[str, Any]]) -> Space:
        """The space with these start configurations (searched values only), the empty and repeated ones dropped."""
        start: list[dict[str, Any]] = []
        for entry in entries:
            if entry and entry not in start:
                start.append(entry)
        return replace(self, start=tuple(start))

    def without_start(self) -> Space:
        """The same space with the sampler proposing every trial (the `--no-start` option)."""
        return replace(self, start=())

    def is_start(self, config: dict[str, Any]) -> bool:
        """Whether `config` is one of the start configurations that give every searched value (a value
        the entry gives for a parameter its own choices switch off, such as schedule_epochs with a
        constant rate, is not part of the trial). An interrupted start configuration runs again under a
        new trial number when the run resumes: its values tell it. An entry that leaves values to the
        sampler matches no trial this way."""
        searched = {p.name: config[p.name] for p in self.searched if p.name in config}
        return any({k: v for k, v in entry.items() if k in searched} == searched for entry in self.start)

    def architectures(self) -> list[dict[str, Any]]:
        """Every architecture the space can build, with ranges reduced to the values that reach extremes."""
        relevant = [p for p in self.params if p.name in _ARCHITECTURE or p.name.startswith("filters_")]
        grids = [p.corners() for p in relevant]
        total = 1
        for g in grids:
            total *= len(g)
        if total > _MAX_COMBINATIONS:
            grids = [sorted({g[0], g[-1]}, key=repr) for g in grids]
        seen: list[dict[str, Any]] = []
        keys = set()
        for combo in itertools.product(*grids):
            config: dict[str, Any] = {}
            for p, value in zip(relevant, combo, strict=True):
                if p.when is None or p.when.holds(config):
                    config[p.name] = value
            key = tuple(sorted(config.items()))
            if key not in keys:
                keys.add(key)
                seen.append(config)
        return seen

    def check_constraints(self, input_shape: tuple[int, ...] | None, num_classes: int | None) -> None:
        """Reject the space if any model it can build breaks a constraint (or cannot be built at all)."""
        where = f"{self.source}: constraints"
        for rule in self.constraints:
            if rule.quantity == "epochs":
                p = self.param("epochs")
                values = p.corners() if p is not None else [HYPERPARAMETERS["epochs"].default]
                bad = next((v for v in values if not rule.holds(v)), None)
                if bad is not None:
                    raise CnnTuneError(
                        f"{where}: rule `{rule}` is broken: params.epochs can be {bad:g}; "
                        f"narrow params.epochs or change the rule"
                    )
        structural = [r for r in self.constraints if r.quantity != "epochs"]
        if input_shape is None or num_classes is None:
            # The image size is unknown until the data is loaded: check what does not depend on it.
            structural = [r for r in structural if r.quantity != "params"]
            shape: tuple[int, ...] = (64, 64, 3)
            classes = 10
        else:
            shape, classes = input_shape, num_classes
        for config in self.architectures():
            try:
                counts = plan_counts(layer_plan(config, shape, classes))
            except ValueError as exc:
                if input_shape is None:
                    continue
                described = ", ".join(f"{k}={v}" for k, v in config.items())
                raise CnnTuneError(
                    f"{self.source}: params: the model {described} cannot be built on "
                    f"{'x'.join(map(str, shape))} images: {exc}"
                ) from None
            for rule in structural:
                if not rule.holds(counts[rule.quantity]):
                    described = ", ".join(f"{k}={v}" for k, v in config.items())
                    raise CnnTuneError(
                        f"{where}: rule `{rule}` is broken by a model the space can build "
                        f"({described} has {rule.quantity}={counts[rule.quantity]}); "
                        f"narrow params or change the rule"
                    )

    def to_dict(self) -> dict[str, Any]:
        """The resolved space as plain data (what `spaces show` prints and `run.json` records)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "dataset": self.dataset,
            "params": {p.name: p.value if p.kind == "fixed" and p.when is None else p.describe() for p in self.params},
            "constraints": [str(c) for c in self.constraints],
            "stop": None
            if self.stop is None
            else {
                "metric": self.stop.metric,
                "threshold": self.stop.threshold,
                "message": self.stop.message,
            },
            "objective": self.objective.name,
            "data": {
                "validation_split": self.validation_split,
                "seed": self.data_seed,
                "color": self.color,
                "image_size": list(self.image_size) if self.image_size else None,
            },
            "search": {"trials": self.trials, **({"start": [dict(e) for e in self.start]} if self.start else {})},
        }
