"""Who runs a trial, and whether that process is still alive (to fail trials a dead worker left)."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["new_session", "this_worker", "worker_is_dead"]


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks (Linux), telling a live process from a reused PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


_session = uuid.uuid4().hex


def new_session() -> None:
    """Mark the start of a search in this process: trials an earlier search here left running
    (it stopped on an error it could not record, such as a read-only disk) now count as dead."""
    global _session
    _session = uuid.uuid4().hex


_own: dict[int, int | None] = {}  # this process's start ticks, by pid (a forked child has its own)


def this_worker() -> dict[str, Any]:
    pid = os.getpid()
    if pid not in _own:
        _own[pid] = _start_ticks(pid)
    return {"host": socket.gethostname(), "pid": pid, "start": _own[pid], "session": _session}


# A worker records itself on a trial right after asking for it; a trial without that record is
# taken as abandoned only once it is older than this (else a joining worker could fail a live one).
UNCLAIMED_GRACE_SECONDS = 60.0


def worker_is_dead(worker: dict[str, Any] | None, started: datetime | None = None) -> bool:
    """True when `worker` ran on this host and its process is gone; unknown hosts count as alive.
    With no worker recorded, true once the trial (started at `started`) is past the grace period."""
    if not worker:
        if started is None:
            return True
        return (datetime.now(started.tzinfo) - started).total_seconds() > UNCLAIMED_GRACE_SECONDS
    if worker.get("host") != socket.gethostname():
        return False
    pid = int(worker.get("pid", -1))
    if pid == os.getpid():
        return worker.get("start") != _start_ticks(pid) or worker.get("session") != _session
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    started = worker.get("start")
    return started is not None and _start_ticks(pid) not in (None, started)
