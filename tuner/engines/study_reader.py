"""A cnn-tune study read from outside the search (`report --storage`, `watch`, `load_run`): opened once,
then read again incrementally, so that following a long search does not cost more with every trial."""

from __future__ import annotations

from typing import Any

import optuna

from tuner.engines.optuna_index import TrialIndex
from tuner.engines.optuna_records import DEADLINE_ATTR, recorded_run
from tuner.engines.optuna_storage import open_storage
from tuner.errors import CnnTuneError
from tuner.records import TrialRecord
from tuner.runs.record import mask_url

__all__ = ["StudyReader", "read_study"]


class StudyReader:
    """The study `name` in the storage at `url`. Opening a journal file replays it from its first
    line; each `read()` after that reads only the journal's new lines and the trials still open (on
    a database: the open and new trials). Nothing is written: no stale trial is failed."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.storage = open_storage(url, lambda study, trial: None)
        names = optuna.get_all_study_names(self.storage)
        if name not in names:
            held = ", ".join(sorted(names)) or "no studies"
            raise CnnTuneError(f"no study of that name in {mask_url(url)} (it holds {held})", field=f"name {name}")
        self.study = optuna.load_study(study_name=name, storage=self.storage)
        self.index = TrialIndex(self.study, self.storage, coalesce=0.0)  # every read looks

    def read(self) -> tuple[dict[str, Any], list[TrialRecord]]:
        """The run record (with the study's deadline, if it has one) and every trial worth a row: not
        the queued ones, nor the surplus ones given back unrun."""
        record = recorded_run(self.storage, self.name)
        if not record:
            raise CnnTuneError(
                f"the study in {mask_url(self.url)} was not made by cnn-tune run", field=f"name {self.name}"
            )
        self.index.refresh()
        deadline = self.study.user_attrs.get(DEADLINE_ATTR)
        return record | ({"deadline": deadline} if deadline is not None else {}), self.index.all_records()


def read_study(url: str, name: str) -> tuple[dict[str, Any], list[TrialRecord]]:
    """The run record and every trial of the cnn-tune study `name` in the storage at `url`, read once."""
    return StudyReader(url, name).read()
