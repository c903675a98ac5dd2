"""Worker placement, tested with faked device lists (no GPU is needed or used)."""

from __future__ import annotations

import os

import pytest

from tuner.errors import CnnTuneError
from tuner.training.devices import plan_workers, visible_gpus


def test_one_worker_per_gpu_by_default() -> None:
    plan = plan_workers(None, ["0", "1"], None)
    assert [p.device for p in plan] == ["gpu 0", "gpu 1"]
    assert all(p.env["CNN_TUNE_MEMORY_GROWTH"] == "1" for p in plan)


def test_trials_per_gpu_puts_k_workers_on_each() -> None:
    plan = plan_workers(("0", "1"), ["0", "1", "2"], None, trials_per_gpu=3)
    assert [p.device for p in plan] == ["gpu 0"] * 3 + ["gpu 1"] * 3
    assert [p.index for p in plan] == [1, 2, 3, 4, 5, 6]


def test_cpu_workers_split_the_cores() -> None:
    assert plan_workers(None, [], None)[0].env == {}  # one worker: TensorFlow's own settings
    plan = plan_workers(None, [], 2)
    assert [p.device for p in plan] == ["cpu", "cpu"]
    assert plan[0].env["CNN_TUNE_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    hidden = plan_workers((), ["0"], 1)
    assert hidden[0].env == {"CUDA_VISIBLE_DEVICES": "-1"}


@pytest.mark.parametrize(
    ("gpus", "visible", "message"),
    [
        ("2", ["0", "1"], r"^gpus: GPU 2 is not visible to TensorFlow \(visible: 0, 1\)"),
        ("first", ["0"], r"^gpus: give all, none or GPU numbers such as 0,1; got 'first'"),
        ("0", [], r"^gpus: GPU 0 is not visible to TensorFlow \(visible: none\)"),
    ],
)
def test_bad_gpu_options(gpus: str, visible: list[str], message: str) -> None:
    from tuner.cli.run import parse_gpus

    with pytest.raises(CnnTuneError, match=message):
        plan_workers(parse_gpus(gpus), visible, None)


def test_no_gpu_here_is_found_without_loading_tensorflow() -> None:
    import sys

    had_tf = "tensorflow" in sys.modules
    assert isinstance(visible_gpus(), list)
    assert ("tensorflow" in sys.modules) == had_tf
