"""Engines by name: optimiser adapters that propose trials for the shared trial loop."""

from __future__ import annotations

import importlib

from tuner.engines.base import Engine, PackRunner, Proposal, Slot, Study, TrialRunner
from tuner.errors import CnnTuneError

__all__ = ["ENGINES", "Engine", "PackRunner", "Proposal", "Slot", "Study", "TrialRunner", "get_engine"]

# name -> "module:class", imported only when chosen, so that optuna loads only for a search.
ENGINES: dict[str, str] = {
    "keras-tuner": "tuner.engines.keras_tuner_engine:KerasTunerEngine",
    "optuna": "tuner.engines.optuna_engine:OptunaEngine",
}


def get_engine(name: str, algorithm: str | None = None) -> Engine:
    """The engine called `name`, set up with `algorithm` (validated by the engine)."""
    if name not in ENGINES:
        raise CnnTuneError(f"unknown engine {name!r}; choose from: {', '.join(sorted(ENGINES))}", field="engine")
    module, cls = ENGINES[name].split(":")
    engine: Engine = getattr(importlib.import_module(module), cls)(algorithm)
    return engine
