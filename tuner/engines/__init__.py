"""Engines by name: adapters that turn a space into an optimiser's language and drive the trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuner.errors import CnnTuneError

if TYPE_CHECKING:
    from tuner.engines.base import Engine

__all__ = ["ENGINES", "get_engine"]

# name -> "module:class", imported only when chosen, so that optuna loads only for a search.
ENGINES: dict[str, str] = {
    "keras-tuner": "tuner.engines.keras_tuner_engine:KerasTunerEngine",
    "optuna": "tuner.engines.optuna_engine:OptunaEngine",
}


def get_engine(name: str, algorithm: str | None = None, pruner: str | None = None) -> Engine:
    """The engine called `name`, set up with `algorithm` and `pruner` (validated by the engine)."""
    if name not in ENGINES:
        raise CnnTuneError(f"unknown engine {name!r}; choose from: {', '.join(sorted(ENGINES))}")
    import importlib

    module, cls = ENGINES[name].split(":")
    engine: Engine = getattr(importlib.import_module(module), cls)(algorithm, pruner)
    return engine
