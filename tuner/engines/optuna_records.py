"""A cnn-tune study as optuna stores it: its trials as engine-neutral records, and the run record kept with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from tuner.records import TrialRecord
from tuner.training.backend import recorded_backend

__all__ = [
    "DEADLINE_ATTR",
    "RECORD_ATTR",
    "RUN_ATTR",
    "SURPLUS_ATTR",
    "recorded_run",
    "run_label",
    "to_record",
    "write_run",
]

# What `optuna studies` and optuna-dashboard show of a run: a few fields that say what it is.
RUN_ATTR = "cnn_tune"
# run.json's whole record, for hosts that share the study without the run folder: a system
# attribute, which optuna's viewers do not list.
RECORD_ATTR = "cnn_tune_record"
DEADLINE_ATTR = "cnn_tune_deadline"  # when the study's timeout ends (seconds since the epoch)
_OLD_RUN_ATTR = "cnn_tune_run"  # where studies of older cnn-tune versions keep the whole record: a user attribute
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
        # A running trial has no result yet: its epochs so far are the intermediate values it reported.
        result=attrs.get("result")
        or ({"epochs_run": len(t.intermediate_values)} if t.state == TrialState.RUNNING else {}),
        history=attrs.get("history", []),
        fail_reason=attrs.get("fail_reason") or (_stale_reason(t) if t.state == TrialState.FAIL else None),
        started=_iso(t.datetime_start),
        finished=_iso(t.datetime_complete),
    )


def run_label(record: dict[str, Any]) -> dict[str, Any]:
    """The study's user attribute: what identifies the run; the rest is in run.json."""
    space = record.get("space", {})
    return {
        "run": record.get("name"),
        "space": space.get("name"),
        "objective": space.get("objective"),
        "search": f"{record.get('engine')} {record.get('algorithm')}, pruner {record.get('pruner')}",
        "dataset": (record.get("dataset") or {}).get("spec"),
        "backend": recorded_backend(record),
        "seed": record.get("seed"),
        "created": record.get("created"),
        "cnn_tune": (record.get("versions") or {}).get("cnn-tune"),
    }


def write_run(storage: Any, name: str, record: dict[str, Any]) -> None:
    """Keep run.json's record with the study `name`: whole as a system attribute, compact as a user one."""
    study_id = storage.get_study_id_from_name(name)
    storage.set_study_system_attr(study_id, RECORD_ATTR, record)
    storage.set_study_user_attr(study_id, RUN_ATTR, run_label(record))


def recorded_run(storage: Any, name: str) -> dict[str, Any] | None:
    """The run record kept with the study `name` (None for a study cnn-tune did not make)."""
    study_id = storage.get_study_id_from_name(name)
    record = storage.get_study_system_attrs(study_id).get(RECORD_ATTR)
    return record or storage.get_study_user_attrs(study_id).get(_OLD_RUN_ATTR)
