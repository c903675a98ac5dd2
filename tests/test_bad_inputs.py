"""A catalogue of malformed inputs: each ends with one clear line naming the input, exit code 2,
no traceback, and no run folder that claims to hold results."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SPACES, idx_bytes, make_images, write_idx_dir
from test_cli import invoke, one_line_error

EXERCISE = (SPACES / "exercise3.yaml").read_text()


def space_file(text: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        (tmp / "bad.yaml").write_text(text)
        return ["spaces", "validate", str(tmp / "bad.yaml")]

    return make


def edited(old: str, new: str) -> Callable[[Path], list[str]]:
    assert old in EXERCISE, old
    return space_file(EXERCISE.replace(old, new))


def data_dir(damage: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        folder = write_idx_dir(tmp / "data")
        damage(folder)
        return ["run", "--space", "exercise3", "--dataset", str(folder), "--out", str(tmp / "runs")]

    return make


def truncate(folder: Path) -> None:
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])


def wrong_magic(folder: Path) -> None:
    raw = bytearray(idx_bytes(make_images(400, 1)[0]))
    raw[3] = 0x02
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))


def fewer_labels(folder: Path) -> None:
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(make_images(399, 1)[1])))


def empty_set(folder: Path) -> None:
    import numpy as np

    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((0, 28, 28), np.uint8))))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((0,), np.uint8))))


def missing_file(folder: Path) -> None:
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()


def run_with(*options: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["run", "--space", "exercise3", "--out", str(tmp / "runs"), *options]


CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    # space files
    "yaml syntax": (
        space_file("dataset: mnist\nparams: {filters: [16\n"),
        r"bad\.yaml: YAML syntax error at line 3, column 1: expected .,. or .\].",
    ),
    "not a mapping": (space_file("- just\n- a list\n"), r"bad\.yaml: a space file holds a mapping"),
    "code in the space file": (
        space_file('name: x\ndataset: !!python/object/apply:os.system ["touch /tmp/owned"]\n'),
        r"bad\.yaml: YAML syntax error at line 2, column 10: .*could not determine a constructor",
    ),
    "unknown top key": (edited("objective:", "objektive:"), r"unknown key `objektive`; did you mean `objective`\?"),
    "unknown hyperparameter": (
        edited("  dense_units:", "  dense_unit:"),
        r"params\.dense_unit: unknown hyperparameter",
    ),
    "wrong type": (edited("epochs: 20 ", "epochs: twenty "), r"params\.epochs: must be a number, got 'twenty'"),
    "empty choices": (
        edited("filters: {choice: [16, 32, 64]}", "filters: {choice: []}"),
        r"`choice` must be a non-empty",
    ),
    "low > high": (edited("{int: [64, 512], step: 64}", "{int: [512, 64]}"), r"`low <= high` must hold, got low=512"),
    "log touching 0": (edited("[0.0003, 0.006], log: true", "[0.0, 0.006], log: true"), r"log range must stay above 0"),
    "constraint broken": (edited("conv_layers: 1 ", "conv_layers: 2 "), r"rule `conv_layers == 1` is broken"),
    "epochs over limit": (edited("epochs: 20 ", "epochs: 25 "), r"rule `epochs <= 20` is broken"),
    "unreported stop metric": (edited("metric: accuracy ", "metric: f1 "), r"the model does not report 'f1'"),
    "threshold out of range": (edited("threshold: 0.998", "threshold: 99.8"), r"accuracy threshold lies in \(0, 1\]"),
    "bad condition": (
        edited("kernel_size: {choice: [3, 5]}", "kernel_size: {choice: [3, 5], when: 'depth ~ 2'}"),
        r"`when` must read `PARAM OP VALUE`",
    ),
    "bad validation split": (edited("validation_split: 0.1 ", "validation_split: 1.5 "), r"data\.validation_split"),
    "bad image size": (
        edited("  seed: 0\n", "  seed: 0\n  image_size: [0, 5]\n"),
        r"data\.image_size: give \[height, width\]",
    ),
    "bad color": (edited("  seed: 0\n", "  seed: 0\n  color: sepia\n"), r"data\.color: must be grayscale or rgb"),
    "unknown space": (lambda tmp: ["spaces", "show", "exercise9"], r"space 'exercise9' is neither .* 'exercise3'"),
    # datasets
    "missing dataset path": (run_with("--dataset", "/nonexistent/mnist"), r"dataset '/nonexistent/mnist' is neither"),
    "truncated file": (data_dir(truncate), r"train-images-idx3-ubyte\.gz: cannot read .*truncated"),
    "wrong magic number": (data_dir(wrong_magic), r"wrong IDX magic number 0x00000802"),
    "label count mismatch": (data_dir(fewer_labels), r"400 train images but 399 labels"),
    "empty test set": (data_dir(empty_set), r"the test set is empty"),
    "missing file": (data_dir(missing_file), r"does not hold the four IDX files; missing t10k-labels-idx1-ubyte\.gz"),
    # command-line values
    "trials 0": (run_with("--trials", "0"), r"--trials: must be at least 1, got 0"),
    "negative timeout": (run_with("--timeout", "-5"), r"--timeout: must be a positive number of seconds"),
    "max epochs 0": (run_with("--max-epochs", "0"), r"--max-epochs: must be at least 1"),
    "epoch budget 0": (run_with("--epoch-budget", "0"), r"--epoch-budget: must be at least 1, got 0"),
    "tiny train limit": (run_with("--train-limit", "5"), r"--train-limit: must be at least 20"),
    "patience -1": (run_with("--patience", "-1"), r"--patience: must be at least 0, got -1"),
    "workers 0": (run_with("--workers", "0"), r"--workers: must be between 1 and 64"),
    "bad gpus": (run_with("--gpus", "first"), r"--gpus: give all, none or GPU numbers"),
    "unknown engine": (run_with("--engine", "sklearn"), r"unknown engine 'sklearn'; choose from: keras-tuner, optuna"),
    "unknown algorithm": (
        run_with("--algorithm", "annealing"),
        r"--algorithm: unknown algorithm 'annealing'; choose from: bayesian, cmaes",
    ),
    "unknown pruner": (
        run_with("--pruner", "eager"),
        r"--pruner: unknown pruner 'eager'; choose from: exact, curve, ladder, median, hyperband, none, or a chain",
    ),
    "set unknown parameter": (
        run_with("--set", "filter=32"),
        r"--set filter: .* no such parameter; did you mean `filters`",
    ),
    "set value outside the space": (
        run_with("--set", "filters=48"),
        r"--set filters=48: not a value .* choice 16, 32, 64",
    ),
    "set without a value": (run_with("--set", "filters"), r"--set filters: write NAME=VALUE"),
    "start value outside the space": (
        edited("{filters: 16, kernel_size: 5,", "{filters: 48, kernel_size: 5,"),
        r"bad\.yaml: search\.start\[0\]\.filters: 48 is outside params\.filters \(choice 16, 32, 64\)",
    ),
    "report format": (lambda tmp: ["report", str(tmp), "--format", "pdf"], r"--format: unknown format 'pdf'"),
    "not a run folder": (lambda tmp: ["report", str(tmp)], r"is not a cnn-tune run folder"),
    # storage URLs
    "unknown storage scheme": (
        run_with("--storage", "nosuchdb://host/db"),
        r"--storage nosuchdb://host/db: cannot open",
    ),
    "storage password hidden": (
        run_with("--storage", "nosuchdb://user:secret@host/db"),
        r"nosuchdb://user:\*\*\*@host/db",
    ),
    "unreachable storage host": (
        run_with("--storage", "postgresql://cnn:secret@127.0.0.1:1/cnn_tune"),
        r"--storage postgresql://cnn:\*\*\*@127\.0\.0\.1:1/cnn_tune: cannot open the study storage: .*connect",
    ),
    "storage folder missing": (
        run_with("--storage", "sqlite:////nonexistent/dir/s.db"),
        r"--storage sqlite:.*cannot open",
    ),
    "storage with keras-tuner": (
        run_with("--engine", "keras-tuner", "--storage", "sqlite:///x.db"),
        r"--storage: keras-tuner keeps its state in the run folder",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case: str, tmp_path: Path, tiny_data: Path) -> None:
    make, pattern = CASES[case]
    result = invoke(*make(tmp_path))
    one_line_error(result, pattern)
    assert "secret" not in result.output
    for run_file in (tmp_path / "runs").glob("*/run.json"):
        assert not (run_file.parent / "trials.csv").exists(), "a failed start must not leave result tables"


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 25
