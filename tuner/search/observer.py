"""What a search tells whoever watches it (the terminal, a notebook, nothing)."""

from __future__ import annotations

from typing import Any

from tuner.records import TrialRecord

__all__ = ["Observer"]


class Observer:
    """Silent by default; the CLI's progress display overrides what it shows."""

    def search_started(self, total: int, done: int) -> None:
        """`done` of `total` trials were finished before this session (a resumed run)."""

    def trial_started(self, number: int, config: dict[str, Any]) -> None:
        """A trial begins with this configuration."""

    def epoch_ended(self, number: int, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        """Trial `number` finished `epoch` of at most `epochs`."""

    def message(self, text: str) -> None:
        """A line to show the user, e.g. the stop rule's message."""

    def trial_finished(self, record: TrialRecord) -> None:
        """A trial ended as complete, pruned or failed."""

    def search_finished(self) -> None:
        """The session is over (done, timed out or interrupted)."""
