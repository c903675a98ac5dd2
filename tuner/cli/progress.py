"""The terminal's view of a search: rich progress over trials and epochs, one line per trial."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tuner.records import TrialRecord
from tuner.search.eta import format_left
from tuner.search.observer import Observer, trial_line
from tuner.training.schedules import trial_epochs

__all__ = ["QuietProgress", "RichProgress", "trial_line"]


class QuietProgress(Observer):
    """Only the stop rule's message, which the exercise asks to see."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)


class RichProgress(QuietProgress):
    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            TextColumn("{task.fields[left]}"),
            console=console,
            transient=True,
        )
        self.trials_task: Any = None
        self.epochs_task: Any = None

    def search_started(self, total: int, done: int) -> None:
        if done:
            self.console.print(f"resuming: {done} of {total} trials already finished")
        self.progress.start()
        self.trials_task = self.progress.add_task("trials", total=total, completed=done, detail="", left="")
        self.epochs_task = self.progress.add_task("epochs", total=1, detail="", left="")
        self.estimate: tuple[float, float] | None = None  # (seconds left, when it was estimated)

    def trial_started(self, number: int, config: dict[str, Any]) -> None:
        epochs = trial_epochs(config)
        # reset restarts the bar's clock too: the elapsed time is this trial's.
        self.progress.reset(
            self.epochs_task, description=f"trial {number}", total=epochs, completed=0, detail="", left=""
        )

    def epoch_ended(self, number: int, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        detail = "  ".join(f"{k} {logs[k]:.4f}" for k in ("accuracy", "val_accuracy") if k in logs)
        self.progress.update(self.epochs_task, completed=epoch, detail=detail)
        if self.estimate is not None:  # the estimate counts down between trials
            seconds, at = self.estimate
            self.progress.update(self.trials_task, left=format_left(max(seconds - (time.monotonic() - at), 0.0)))

    def time_left(self, seconds: float | None) -> None:
        self.estimate = None if seconds is None else (seconds, time.monotonic())
        self.progress.update(self.trials_task, left=format_left(seconds))

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def trial_finished(self, record: TrialRecord) -> None:
        style = {"complete": "", "pruned": "yellow", "failed": "red"}.get(record.state, "")
        self.progress.console.print(trial_line(record), style=style, markup=False, highlight=False)
        if record.state != "failed":
            self.progress.advance(self.trials_task)

    def search_finished(self) -> None:
        self.progress.stop()
