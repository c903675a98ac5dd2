"""What a search tells whoever watches it (the terminal, a notebook, nothing)."""

from __future__ import annotations

from typing import Any

from tuner.records import TrialRecord

__all__ = ["Observer", "Observers", "WorkerLines", "trial_line"]


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

    def time_left(self, seconds: float | None) -> None:
        """The search's estimate of the seconds it still needs (`tuner.search.eta`), after each trial."""

    def search_finished(self) -> None:
        """The session is over (done, timed out or interrupted)."""


def trial_line(record: TrialRecord) -> str:
    """One readable line for a finished trial."""
    r = record.result
    params = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.params.items())
    if record.state == "failed":
        outcome = f"failed: {record.fail_reason}"
    else:
        if r.get("reached_threshold"):
            outcome = f"reached the threshold at epoch {r['epochs_to_threshold']} ({r['seconds_to_threshold']:.0f} s)"
        else:
            epochs = r.get("epochs_run", 0)
            outcome = f"{epochs} epoch{'s' if epochs != 1 else ''}"
        if record.state == "pruned":
            outcome = f"pruned ({record.fail_reason}), {outcome}"
        accuracy = r.get("train_accuracy")
        val = r.get("val_accuracy")
        test = r.get("test_accuracy")
        outcome += "".join(
            f", {label} {value:.4f}"
            for label, value in (("train", accuracy), ("val", val), ("test", test))
            if value is not None
        )
    return f"trial {record.trial}: {outcome} | {params}"


class WorkerLines(Observer):
    """What a worker process prints: the stop rule's message and a line per finished trial."""

    def __init__(self, index: int) -> None:
        self.prefix = f"[worker {index}] "

    def message(self, text: str) -> None:
        print(self.prefix + text, flush=True)

    def trial_finished(self, record: TrialRecord) -> None:
        print(self.prefix + trial_line(record), flush=True)


class Observers(Observer):
    """Several observers told the same things, in order (the terminal, then the TensorBoard log)."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def search_started(self, total: int, done: int) -> None:
        for observer in self.observers:
            observer.search_started(total, done)

    def trial_started(self, number: int, config: dict[str, Any]) -> None:
        for observer in self.observers:
            observer.trial_started(number, config)

    def epoch_ended(self, number: int, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        for observer in self.observers:
            observer.epoch_ended(number, epoch, epochs, logs)

    def message(self, text: str) -> None:
        for observer in self.observers:
            observer.message(text)

    def trial_finished(self, record: TrialRecord) -> None:
        for observer in self.observers:
            observer.trial_finished(record)

    def time_left(self, seconds: float | None) -> None:
        for observer in self.observers:
            observer.time_left(seconds)

    def search_finished(self) -> None:
        for observer in self.observers:
            observer.search_finished()
