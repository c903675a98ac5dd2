"""cnn-tune: hyperparameter search for small Keras convolutional image classifiers.

Importing the package is cheap: TensorFlow loads only when a trial trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CnnTuneError",
    "Run",
    "SearchSettings",
    "Space",
    "load_dataset",
    "load_run",
    "load_space",
    "run_search",
]

_LAZY = {
    "CnnTuneError": "tuner.errors",
    "Run": "tuner.runs",
    "load_run": "tuner.runs",
    "SearchSettings": "tuner.search",
    "run_search": "tuner.search",
    "Space": "tuner.space",
    "load_space": "tuner.space",
    "load_dataset": "tuner.data",
}

if TYPE_CHECKING:
    from tuner.data import load_dataset
    from tuner.errors import CnnTuneError
    from tuner.runs import Run, load_run
    from tuner.search import SearchSettings, run_search
    from tuner.space import Space, load_space


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")
