"""TensorBoard logs of a search: each trial's per-epoch scalars as it trains, and an HParams summary
(its searched parameters, the objective, whether and when it met the stop rule) when it ends, so that
`tensorboard --logdir DIR` shows the curves, the HParams table and parallel coordinates.

Written with the `tensorboard` package's own event writer and protocol buffers, without TensorFlow
(any backend), by every process for the trials it trains: DIR/trial-NNNN holds trial N.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tuner.errors import CnnTuneError
from tuner.records import TrialRecord
from tuner.search.observer import Observer
from tuner.space import Space

__all__ = ["METRICS", "TensorBoardLog", "check_tensorboard"]

# The HParams plugin's metrics: the last value of each of these scalars in a trial's folder.
METRICS = {
    "objective": "the search's objective (lower is better when minimising)",
    "reached_threshold": "1 if the trial met the stop rule",
    "epochs_to_threshold": "epochs until it met the stop rule",
    "val_accuracy": "validation accuracy, last epoch",
    "test_accuracy": "test accuracy",
    "epochs_run": "epochs trained",
}
_EPOCH_SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


def check_tensorboard(folder: Path | None = None) -> None:
    """One clear line when the package is missing or `folder` cannot be written."""
    if importlib.util.find_spec("tensorboard") is None:
        raise CnnTuneError(
            "the tensorboard package is not installed; install it with `pip install 'cnn-tune[tensorboard]'`",
            field="tensorboard",
        )
    if folder is not None:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CnnTuneError(f"cannot write logs into {folder}: {exc.strerror or exc}", field="tensorboard") from None


class _EventFile:
    """One TensorBoard event file in `folder`, in TensorBoard's record format. (tensorboard's own
    EventFileWriter goes through tf.io.gfile, which imports TensorFlow wherever it is installed.)"""

    def __init__(self, folder: Path, event_pb2: Any) -> None:
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{time.time():.0f}.{socket.gethostname()}.{os.getpid()}.{time.time_ns()}"
        self._file = open(folder / name, "wb")
        self._records = RecordWriter(self._file)
        self.add_event(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def add_event(self, event: Any) -> None:
        self._records.write(event.SerializeToString())

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _hparam_value(value: Any) -> bool | int | float | str:
    return value if isinstance(value, (bool, int, float, str)) else str(value)


class TensorBoardLog(Observer):
    """An observer that writes TensorBoard event files under `folder`; `experiment` writes the
    HParams experiment (the parameters and metrics) once, in the process that started the search."""

    def __init__(self, folder: Path, space: Space, experiment: bool = True) -> None:
        check_tensorboard(folder)
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import summary_v2

        self.folder, self.space = Path(folder), space
        self._event, self._summary, self._hp = event_pb2, summary_pb2, summary_v2
        self.failed = False  # a write failed: said once, then the log stops (the search goes on)
        self.writers: dict[int, Any] = {}
        self.written: dict[int, int] = {}  # trial -> the last epoch written
        if experiment:
            self._guard(self._experiment)

    def _guard(self, write: Any, *args: Any) -> None:
        """Run a write; a disk error stops the log with one warning instead of failing trials."""
        if self.failed:
            return
        try:
            write(*args)
        except OSError as exc:
            self.failed = True
            print(f"warning: TensorBoard log stopped: cannot write into {self.folder}: {exc}", file=sys.stderr)

    def _write(self, writer: Any, summary: Any, step: int) -> None:
        writer.add_event(self._event.Event(wall_time=time.time(), step=step, summary=summary))

    def _scalars(self, writer: Any, values: dict[str, float], step: int) -> None:
        summary = self._summary.Summary(
            value=[self._summary.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()]
        )
        self._write(writer, summary, step)

    def _domain(self, param: Any) -> Any:
        """The parameter's range for the HParams filters (None: TensorBoard infers it from the trials)."""
        hp = self._hp
        if param.kind == "int":
            return hp.IntInterval(int(param.low), int(param.high))
        if param.kind == "float":
            return hp.RealInterval(float(param.low), float(param.high))
        kinds = {type(choice) for choice in param.choices}
        if param.kind == "choice" and len(kinds) == 1 and kinds <= {bool, int, float, str}:
            return hp.Discrete(list(param.choices))
        return None

    def _experiment(self) -> None:
        hp = self._hp
        config = hp.hparams_config_pb(
            hparams=[hp.HParam(param.name, self._domain(param)) for param in self.space.searched],
            metrics=[hp.Metric(tag, description=text) for tag, text in METRICS.items()],
        )
        writer = _EventFile(self.folder, self._event)
        self._write(writer, config, 0)
        writer.close()

    def _writer(self, number: int) -> Any:
        if number not in self.writers:
            self.writers[number] = _EventFile(self.folder / f"trial-{number:04d}", self._event)
        return self.writers[number]

    def _epoch(self, number: int, epoch: int, logs: dict[str, Any]) -> None:
        values = {k: logs[k] for k in _EPOCH_SCALARS if isinstance(logs.get(k), (int, float))}
        self._scalars(self._writer(number), values, epoch)
        self.written[number] = epoch

    def epoch_ended(self, number: int, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        self._guard(self._epoch_now, number, epoch, logs)

    def _epoch_now(self, number: int, epoch: int, logs: dict[str, float]) -> None:
        self._epoch(number, epoch, logs)
        self._writer(number).flush()  # live: TensorBoard shows the epoch while the trial trains

    def trial_finished(self, record: TrialRecord) -> None:
        self._guard(self._trial_end, record)

    def _trial_end(self, record: TrialRecord) -> None:
        writer = self._writer(record.trial)
        done = self.written.get(record.trial, 0)
        for epoch, row in enumerate(record.history[done:], start=done + 1):  # the epoch that met the rule, say
            self._epoch(record.trial, epoch, row)
        self.written.pop(record.trial, None)
        hparams = {name: _hparam_value(value) for name, value in record.params.items() if value is not None}
        self._write(writer, self._hp.hparams_pb(hparams, trial_id=f"trial-{record.trial:04d}"), 0)
        result, last = record.result, len(record.history)
        metrics = {
            "objective": record.value,
            "reached_threshold": 1.0 if result.get("reached_threshold") else 0.0,
            "epochs_to_threshold": result.get("epochs_to_threshold"),
            "val_accuracy": result.get("val_accuracy"),
            "test_accuracy": result.get("test_accuracy"),
            "epochs_run": result.get("epochs_run", last),
        }
        self._scalars(writer, {k: v for k, v in metrics.items() if isinstance(v, (int, float))}, max(last, 1))
        writer.close()
        del self.writers[record.trial]

    def search_finished(self) -> None:
        for writer in self.writers.values():  # trials cut off mid-way keep what they wrote
            with contextlib.suppress(OSError):
                writer.close()
        self.writers.clear()
