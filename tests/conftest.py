"""Shared fixtures: tiny learnable image data the tests write themselves, and a scripted trainer."""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tuner.engines.base import PackRunner, Slot
from tuner.errors import StopTrial
from tuner.records import TrialResult

SPACES = Path(__file__).resolve().parent.parent / "search_spaces"


def make_images(count: int, seed: int, size: int = 28, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Class k is a bright square at a position of its own plus noise: learnable in an epoch or two."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(count, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[i, 2 + row * 8 : 8 + row * 8, 2 + col * 6 : 7 + col * 6] = 255
    return images, labels.astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dir(folder: Path, train: int = 400, test: int = 100) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = make_images(train, 1)
    x_test, y_test = make_images(test, 2)
    for name, array in (
        ("train-images-idx3-ubyte.gz", x_train),
        ("train-labels-idx1-ubyte.gz", y_train),
        ("t10k-images-idx3-ubyte.gz", x_test),
        ("t10k-labels-idx1-ubyte.gz", y_test),
    ):
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return folder


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach the network, a user's Keras cache, their image cache or their compiled programs."""
    monkeypatch.setenv("CNN_TUNE_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv("CNN_TUNE_CACHE", str(tmp_path_factory.mktemp("image_cache")))
    monkeypatch.setenv("CNN_TUNE_COMPILE_CACHE", str(tmp_path_factory.mktemp("compile_cache")))
    monkeypatch.delenv("CNN_TUNE_DATA", raising=False)
    from tuner.data import load_dataset

    load_dataset.cache_clear()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN_TUNE_DATA folder whose mnist/ and fashion_mnist/ are tiny synthetic IDX sets."""
    root = tmp_path_factory.mktemp("data")
    write_idx_dir(root / "mnist")
    write_idx_dir(root / "fashion_mnist")
    return root


@pytest.fixture
def tiny_data(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNN_TUNE_DATA", str(data_root))
    return data_root


GRID_CELLS = [(16, 3), (16, 5), (32, 3), (32, 5), (64, 3), (64, 5)]


def exercise3_text() -> str:
    """exercise3.yaml without its `search.start` entries, for tests that fix its parameters to other values."""
    text = (SPACES / "exercise3.yaml").read_text()
    return text[: text.index("  start:")]


def grid_space(folder: Path) -> Path:
    """exercise3 with only filters and kernel size searched: a grid of the six GRID_CELLS."""
    text = exercise3_text()
    for old, new in (
        ("learning_rate: {float: [0.0003, 0.006], log: true}", "learning_rate: 0.001"),
        ("dropout: {float: [0.0, 0.3], step: 0.1}", "dropout: 0.0"),
        ("dense_units: {int: [64, 512], step: 64}", "dense_units: 128"),
        ("batch_size: {choice: [32, 64, 128]}", "batch_size: 32"),
        ("lr_schedule: {choice: [constant, cosine, one_cycle]}", "lr_schedule: constant"),
        ('schedule_epochs: {int: [3, 10], when: "lr_schedule != constant"}', "schedule_epochs: 0"),
        ("batch_norm: {choice: [false, true]}", "batch_norm: false"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "grid.yaml"
    path.write_text(text)
    return path


# Scripted curves ignore the learning rate: pin constant rates where a schedule's zero-rate stop
# (exact's) would cut a curve that, scripted, still rises.
CONSTANT_RATE = ["lr_schedule=constant"]


def _scripted_row(rate: float, epoch: int, seconds: float) -> dict[str, float]:
    accuracy = 1 - 0.5 * math.exp(-rate * epoch)
    return {
        "epoch": epoch,
        "loss": 1 - accuracy,
        "accuracy": accuracy,
        "val_loss": 1.1 - accuracy,
        "val_accuracy": accuracy - 0.01,
        "seconds": seconds,
    }


def _scripted_end(result: TrialResult, seconds: float) -> TrialResult:
    last = result.history[-1]
    result.epochs_run = len(result.history)
    result.train_accuracy, result.val_accuracy = last["accuracy"], last["val_accuracy"]
    result.best_stop_metric = max(r["accuracy"] for r in result.history)
    result.test_accuracy = last["val_accuracy"] - 0.005 if result.state == "complete" else None
    result.fit_seconds = len(result.history) * seconds
    return result


def scripted_runner(
    speed: Callable[[dict[str, Any]], float] = lambda c: c.get("filters", 32) / 32,
    fail_when: Callable[[dict[str, Any]], str | None] = lambda c: None,
    threshold: float = 0.998,
    epoch_seconds: Callable[[dict[str, Any]], float] = lambda c: 1.0,
) -> Callable[..., TrialResult]:
    """A fake trainer: accuracy rises with `speed(config)` per epoch, each epoch taking `epoch_seconds(config)`;
    it reports every epoch like the real one."""
    calls: list[dict[str, Any]] = []

    def run(config: dict[str, Any], seed: int, on_epoch: Any, say: Any) -> TrialResult:
        calls.append({"config": dict(config), "seed": seed})
        result = TrialResult(conv_layers=1, pool_layers=1, param_count=1000)
        reason = fail_when(config)
        if reason:
            result.state, result.fail_reason = "failed", reason
            return result
        rate, seconds = speed(config), epoch_seconds(config)
        try:
            for epoch in range(1, int(config.get("epochs", 5)) + 1):
                row = _scripted_row(rate, epoch, seconds)
                result.history.append(row)
                if row["accuracy"] >= threshold:
                    say("Reached 99.8% accuracy so cancelling training!")
                    result.reached_threshold, result.epochs_to_threshold = True, epoch
                    result.seconds_to_threshold = epoch * seconds
                    break
                on_epoch(epoch, row)
        except StopTrial as exc:
            result.state, result.fail_reason = "pruned", exc.reason
        return _scripted_end(result, seconds)

    run.calls = calls  # type: ignore[attr-defined]
    return run


class ScriptedPack(PackRunner):
    """A fake packed trainer: up to `width` trials of `scripted_runner`'s curves at once, each slot one
    epoch further per round, a slot refilled as soon as its trial ends. `crash_at` and `interrupt_at`
    raise in that round (the program failing; Ctrl-C); `rounds`, `widest` and `calls` say what it did."""

    def __init__(
        self,
        width: int,
        speed: Callable[[dict[str, Any]], float] = lambda c: c.get("filters", 32) / 32,
        fail_when: Callable[[dict[str, Any]], str | None] = lambda c: None,
        threshold: float = 0.998,
        crash_at: int | None = None,
        interrupt_at: int | None = None,
    ) -> None:
        self.width, self.speed, self.fail_when, self.threshold = width, speed, fail_when, threshold
        self.crash_at, self.interrupt_at = crash_at, interrupt_at
        self.rounds = self.widest = 0
        self.calls: list[dict[str, Any]] = []
        self.spans: dict[int, list[int]] = {}  # trial: [the round it began in, the round it ended in]

    def run(self, take: Callable[[], Slot | None]) -> None:
        slots: list[tuple[Slot, TrialResult] | None] = [None] * self.width
        while True:
            for i in range(self.width):
                if slots[i] is None and (slot := take()) is not None:
                    slots[i] = self.begin(slot)
            held = [entry for entry in slots if entry is not None]
            if not held:
                return
            self.rounds += 1
            self.widest = max(self.widest, len(held))
            if self.rounds == self.crash_at:
                raise RuntimeError("XLA ran out of memory")
            if self.rounds == self.interrupt_at:
                raise KeyboardInterrupt
            for i, entry in enumerate(slots):
                if entry is not None and self.epoch(*entry):
                    slots[i] = None

    def begin(self, slot: Slot) -> tuple[Slot, TrialResult] | None:
        self.calls.append({"config": dict(slot.config), "seed": slot.seed})
        self.spans[slot.number] = [self.rounds + 1, self.rounds + 1]
        result = TrialResult(conv_layers=1, pool_layers=1, param_count=1000)
        reason = self.fail_when(slot.config)
        if reason:
            result.state, result.fail_reason = "failed", reason
            slot.end(result)
            return None
        return slot, result

    def epoch(self, slot: Slot, result: TrialResult) -> bool:
        """Train `slot` one epoch further; whether its trial ended."""
        epoch = len(result.history) + 1
        row = _scripted_row(self.speed(slot.config), epoch, 1.0)
        result.history.append(row)
        if row["accuracy"] >= self.threshold:
            slot.say("Reached 99.8% accuracy so cancelling training!")
            result.reached_threshold, result.epochs_to_threshold, result.seconds_to_threshold = True, epoch, epoch
        else:
            try:
                slot.on_epoch(epoch, row)
            except StopTrial as exc:
                result.state, result.fail_reason = "pruned", exc.reason
            if result.state == "complete" and epoch < int(slot.config.get("epochs", 5)):
                return False
        self.spans[slot.number][1] = self.rounds
        slot.end(_scripted_end(result, 1.0))
        return True


def make_settings(**options: Any) -> Any:
    """SearchSettings from flat options, the way the command line takes them: trials, timeout, epochs
    and stop_when_found form the budget, `pins` are NAME=VALUE texts, `gpus` is all, none or 0,1."""
    from tuner.cli.run import parse_gpus, parse_pins
    from tuner.search import Budget, SearchSettings, TrainingOptions

    budget = Budget(**{k: options.pop(k) for k in ("trials", "timeout", "epochs", "stop_when_found") if k in options})
    training = TrainingOptions(**{k: options.pop(k) for k in ("xla", "mixed_precision") if k in options})
    if "pins" in options:
        options["pins"] = parse_pins(options["pins"])
    if "gpus" in options:
        options["gpus"] = parse_gpus(options["gpus"])
    return SearchSettings(budget=budget, training=training, **options)
