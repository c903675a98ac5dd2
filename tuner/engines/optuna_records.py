"""A cnn-tune study as optuna stores it: its trials as engine-neutral records, and reading one back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.engines.optuna_storage import open_storage
from tuner.errors import CnnTuneError
from tuner.records import TrialRecord
from tuner.runs.record import mask_url

__all__ = ["RUN_ATTR", "SURPLUS_ATTR", "read_study", "records_of", "to_record"]

RUN_ATTR = "cnn_tune_run"  # the study's user attribute holding run.json's record
SURPLUS_ATTR = "cnn_tune_surplus"  # a trial asked for when the study was already full, given back unrun

_STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def _stale_reason(t: FrozenTrial) -> str:
    """Every failure cnn-tune records carries its reason; one without was failed by optuna's heartbeat check."""
    host = (t.user_attrs.get("worker") or {}).get("host", "an unknown host")
    return f"interrupted: its worker on {host} stopped sending heartbeats"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def to_record(t: FrozenTrial) -> TrialRecord:
    attrs = t.user_attrs
    return TrialRecord(
        trial=t.number,
        state=_STATES.get(t.state, str(t.state)),
        params=dict(t.params),
        config=attrs.get("config", {}),
        seed=attrs.get("seed"),
        value=t.value if t.state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
        result=attrs.get("result", {}),
        history=attrs.get("history", []),
        fail_reason=attrs.get("fail_reason") or (_stale_reason(t) if t.state == TrialState.FAIL else None),
        started=_iso(t.datetime_start),
        finished=_iso(t.datetime_complete),
    )


def records_of(study: optuna.Study) -> list[TrialRecord]:
    """Every trial worth a row: not the queued ones, nor the surplus ones given back unrun."""
    return [
        to_record(t)
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.WAITING and not t.user_attrs.get(SURPLUS_ATTR)
    ]


def read_study(url: str, name: str) -> tuple[dict[str, Any], list[TrialRecord]]:
    """The run record and every trial of the cnn-tune study `name` in the storage at `url`."""
    storage = open_storage(url, lambda study, trial: None)  # reading only: fails no stale trial
    names = optuna.get_all_study_names(storage)
    if name not in names:
        held = ", ".join(sorted(names)) or "no studies"
        raise CnnTuneError(f"no study of that name in {mask_url(url)} (it holds {held})", field=f"name {name}")
    study = optuna.load_study(study_name=name, storage=storage)
    record = study.user_attrs.get(RUN_ATTR)
    if not record:
        raise CnnTuneError(f"the study in {mask_url(url)} was not made by cnn-tune run", field=f"name {name}")
    return record, records_of(study)
