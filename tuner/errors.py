"""The exceptions cnn-tune raises: one for bad input, two for a single trial."""

from __future__ import annotations

__all__ = [
    "WORKER_DIED",
    "CnnTuneError",
    "Terminated",
    "TrialFailed",
    "TrialPruned",
    "interruption",
    "raise_terminated",
]


class CnnTuneError(Exception):
    """Bad input or a condition every trial would hit; the CLI shows it as one line, exit 2."""


class TrialFailed(Exception):
    """One trial cannot finish (NaN loss, out of memory, a broken constraint); the search goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrialPruned(Exception):
    """A pruner decided this trial cannot win; it stops early and is recorded as pruned."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the running trial is marked, the tables are written."""


WORKER_DIED = "interrupted: its worker process ended mid-trial"


def interruption(exc: KeyboardInterrupt) -> str:
    """The fail reason of a trial stopped by Ctrl-C or SIGTERM."""
    return "interrupted by SIGTERM" if isinstance(exc, Terminated) else "interrupted by the user (Ctrl-C)"


def raise_terminated(signum: int, frame: object) -> None:
    """A SIGTERM handler: stop the way Ctrl-C stops, so the running trial is marked and tables written."""
    raise Terminated("interrupted by SIGTERM")
