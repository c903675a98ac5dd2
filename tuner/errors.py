"""The exceptions cnn-tune raises, under one root.

`CnnTuneError` is bad input or a condition every trial would hit: the CLI shows it as one line
and exits 2. Its `field` names the setting at fault (`trials`, `storage`, ...), so the message
itself never names a command-line flag; the CLI puts the flag in front. `TrialError`s end one
trial only: the search records it and goes on.
"""

from __future__ import annotations

__all__ = [
    "WORKER_DIED",
    "CnnTuneError",
    "StopTrial",
    "Terminated",
    "TrialError",
    "TrialFailed",
    "interruption",
    "raise_terminated",
]


class CnnTuneError(Exception):
    """Bad input or a condition every trial would hit. `field` is the setting at fault, if one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class TrialError(CnnTuneError):
    """Ends one trial, not the search. `reason` goes into the trial's row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrialFailed(TrialError):
    """One trial cannot finish (NaN loss, out of memory, a broken constraint); the search goes on."""


class StopTrial(TrialError):
    """Raised by the epoch hook: a pruner decided this trial cannot win; it is recorded as pruned."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the running trial is marked, the tables are written."""


WORKER_DIED = "interrupted: its worker process ended mid-trial"


def interruption(exc: KeyboardInterrupt) -> str:
    """The fail reason of a trial stopped by Ctrl-C or SIGTERM."""
    return "interrupted by SIGTERM" if isinstance(exc, Terminated) else "interrupted by the user (Ctrl-C)"


def raise_terminated(signum: int, frame: object) -> None:
    """A SIGTERM handler: stop the way Ctrl-C stops, so the running trial is marked and tables written."""
    raise Terminated("interrupted by SIGTERM")
