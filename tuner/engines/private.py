"""Every reach into a private attribute of keras-tuner or optuna, in one place, each with its reason.

optuna needs none: its ask-and-tell API and storage API cover what cnn-tune does. keras-tuner
writes its state files in place, and a `kill -9` in the middle of a write leaves half a JSON file
that no resume can read; the only way to make those writes atomic is to replace the private
methods that write them. `tests/test_private.py` fails loudly when an installed keras-tuner no
longer has one of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuner.runs.store import write_atomic

__all__ = ["KERAS_TUNER_PRIVATE", "AtomicOracleFiles", "save_project"]

# (class, attribute) pairs this module relies on, checked by the tests against the installed keras-tuner.
KERAS_TUNER_PRIVATE = (
    ("Oracle", "_get_oracle_fname"),  # where oracle.json lives
    ("Oracle", "_get_trial_dir"),  # where a trial's trial.json lives
    ("Oracle", "_save_trial"),  # keras-tuner's only writer of trial.json, called on every change
    ("BaseTuner", "_get_tuner_fname"),  # tuner0.json, whose presence makes keras-tuner reload
)


class AtomicOracleFiles:
    """Mixed in before a keras-tuner oracle: oracle.json and each trial.json written through a
    temporary file renamed into place."""

    def save(self) -> None:
        write_atomic(Path(self._get_oracle_fname()), json.dumps(self.get_state()))  # type: ignore[attr-defined]

    def _save_trial(self, trial: Any) -> None:
        folder = Path(self._get_trial_dir(trial.trial_id))  # type: ignore[attr-defined]
        write_atomic(folder / "trial.json", json.dumps(trial.get_state()))


def save_project(tuner: Any) -> None:
    """Write the oracle's and the tuner's state atomically. keras-tuner reloads a project only when
    its tuner file exists, which it first writes after a trial ends: without this, a run killed in
    its first trial would start over with other values."""
    tuner.oracle.save()
    write_atomic(Path(tuner._get_tuner_fname()), json.dumps(tuner.get_state()))
