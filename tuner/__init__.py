"""cnn-tune: hyperparameter search for small Keras convolutional image classifiers.

Importing the package is cheap: TensorFlow loads only when a trial trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "CnnTuneError",
    "Run",
    "SearchSettings",
    "Space",
    "TrainingOptions",
    "feature_maps",
    "load_dataset",
    "load_run",
    "load_space",
    "reproduce",
    "run_search",
]

_LAZY = {
    "CnnTuneError": "tuner.errors",
    "Run": "tuner.runs",
    "load_run": "tuner.runs",
    "SearchSettings": "tuner.search",
    "Budget": "tuner.search",
    "TrainingOptions": "tuner.search",
    "run_search": "tuner.search",
    "reproduce": "tuner.runs",
    "feature_maps": "tuner.runs",
    "Space": "tuner.space",
    "load_space": "tuner.space",
    "load_dataset": "tuner.data",
}

if TYPE_CHECKING:
    from tuner.data import load_dataset
    from tuner.errors import CnnTuneError
    from tuner.runs import Run, feature_maps, load_run, reproduce
    from tuner.search import Budget, SearchSettings, TrainingOptions, run_search
    from tuner.space import Space, load_space


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")
