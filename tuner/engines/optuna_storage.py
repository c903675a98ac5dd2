"""Where an optuna study lives: a journal file in the run folder, or a database shared by many hosts.

Database storages get optuna's heartbeats: every running trial records one every `heartbeat_seconds()`,
and a trial whose heartbeat is older than `grace_seconds()` is failed by whichever worker looks next,
which then queues its configuration again (a host that died mid-trial cannot say so itself).
"""

from __future__ import annotations

import os
import random
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy.exc import IntegrityError

from tuner.engines.private import TrialDurableJournal
from tuner.errors import CnnTuneError
from tuner.runs.record import mask_url

__all__ = ["Heartbeat", "grace_seconds", "heartbeat_seconds", "is_journal", "open_storage"]

_CREATE_ATTEMPTS = 5
# The database drivers cnn-tune knows, by URL scheme: (module, what to install).
_DRIVERS = {
    "postgresql": ("psycopg", "pip install 'cnn-tune[postgres]'"),
    "mysql": ("MySQLdb", "pip install mysqlclient"),
}


def heartbeat_seconds() -> int:
    """How often a running trial records its heartbeat (CNN_TUNE_HEARTBEAT, default 10 s)."""
    try:
        return max(1, int(os.environ.get("CNN_TUNE_HEARTBEAT", "10")))
    except ValueError:
        raise CnnTuneError("CNN_TUNE_HEARTBEAT: give whole seconds, such as 10") from None


def grace_seconds() -> int:
    """How long without a heartbeat before a trial counts as dead: six missed beats."""
    return 6 * heartbeat_seconds()


def is_journal(url: str) -> bool:
    """Whether `url` names a journal file (`journal:PATH` or `*.journal`) rather than a database."""
    return url.startswith("journal:") or url.endswith(".journal")


def open_storage(url: str, on_stale: Callable[[optuna.Study, Any], None]) -> Any:
    """The optuna storage behind `url` (`journal:PATH`, `*.journal`, or an SQLAlchemy database URL)."""
    if is_journal(url):
        return optuna.storages.JournalStorage(TrialDurableJournal(str(Path(url.removeprefix("journal:")))))
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}  # a server restart drops pooled connections
    if scheme in ("postgresql", "mysql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}  # an unreachable host fails, not hangs
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats
    # cnn-tune's ask-and-tell loop records heartbeats itself (`Heartbeat`), which optuna cannot see.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    try:
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_seconds(),
                    grace_period=grace_seconds(),
                    heartbeat_stale_trial_callback=on_stale,
                )
            except Exception as exc:
                # Hosts starting at once on an empty database race to create optuna's tables;
                # the losers see a duplicate key, and find the tables made when they try again.
                racing = isinstance(exc, IntegrityError) or "already exists" in str(exc)
                if not racing or attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.2, 1.0))
        raise AssertionError("unreachable")
    except (ImportError, ModuleNotFoundError) as exc:
        install = _DRIVERS.get(scheme, ("", "install the database's Python driver"))[1]
        raise CnnTuneError(
            f"the database driver is missing ({exc}); {install}", field=f"storage {mask_url(url)}"
        ) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CnnTuneError(f"cannot open the study storage: {first}", field=f"storage {mask_url(url)}") from None


def heartbeat_enabled(storage: Any) -> bool:
    """Whether `storage` (a study's, which optuna may wrap in a cache) records heartbeats."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


class Heartbeat:
    """Records a running trial's heartbeat from a daemon thread while the `with` block runs.

    `study.optimize` does this itself; cnn-tune's ask-and-tell loop must. A failed write (the
    database briefly away) is retried on the next beat; too many missed ones and the trial is
    failed by another worker, as if this host had died.
    """

    def __init__(self, storage: Any, trial_id: int) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def beat(self) -> None:
        try:
            self.storage.record_heartbeat(self.trial_id)
        except Exception:
            pass

    def beat_until_stopped(self) -> None:
        while not self.stopped.wait(heartbeat_seconds()):
            self.beat()

    def __enter__(self) -> Heartbeat:
        if heartbeat_enabled(self.storage):
            self.beat()
            self.thread = threading.Thread(
                target=self.beat_until_stopped, name=f"heartbeat-{self.trial_id}", daemon=True
            )
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
