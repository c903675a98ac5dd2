"""Runs: the record of what was run, its folder and tables, and reading it back.

`load_run(path)` gives a `Run` (tables as DataFrames); `reproduce(run)` retrains a trial from the
record alone; `feature_maps(run)` shows what its conv and pool layers see. Reading a run folder
loads neither optuna nor TensorFlow.
"""

from __future__ import annotations

from tuner.runs.feature_maps import FeatureMaps, feature_maps, plot_feature_maps, save_feature_maps
from tuner.runs.reader import Run, load_run, load_study_run, space_of
from tuner.runs.reproduce import Reproduction, reproduce
from tuner.runs.store import RunStore

__all__ = [
    "FeatureMaps",
    "Reproduction",
    "Run",
    "RunStore",
    "feature_maps",
    "load_run",
    "load_study_run",
    "plot_feature_maps",
    "reproduce",
    "save_feature_maps",
    "space_of",
]
