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
    assert plan_workers(None, [], None)[0].env == {}  # one worker: the framework's own settings
    plan = plan_workers(None, [], 2)
    assert [p.device for p in plan] == ["cpu", "cpu"]
    cores = sorted(os.sched_getaffinity(0))
    share = max(1, len(cores) // 2)
    assert all(p.env["CNN_TUNE_THREADS"] == str(share) for p in plan)
    mine = [p.env["CNN_TUNE_CORES"].split(",") for p in plan]
    assert all(len(m) == share and {int(c) for c in m} <= set(cores) for m in mine)
    if len(cores) >= 2:  # each worker on cores of its own
        assert not set(mine[0]) & set(mine[1])
    hidden = plan_workers((), ["0"], 1)
    assert hidden[0].env == {"CUDA_VISIBLE_DEVICES": "-1"}


@pytest.mark.parametrize(
    ("gpus", "visible", "message"),
    [
        ("2", ["0", "1"], r"^gpus: GPU 2 is not visible to the backend \(visible: 0, 1\)"),
        ("first", ["0"], r"^gpus: give all, none or GPU numbers such as 0,1; got 'first'"),
        ("0", [], r"^gpus: GPU 0 is not visible to the backend \(visible: none\)"),
    ],
)
def test_bad_gpu_options(gpus: str, visible: list[str], message: str) -> None:
    from tuner.cli.run import parse_gpus

    with pytest.raises(CnnTuneError, match=message):
        plan_workers(parse_gpus(gpus), visible, None)


def test_k_workers_per_gpu_share_the_cores_and_take_memory_as_needed() -> None:
    plan = plan_workers(("0",), ["0"], None, trials_per_gpu=4)
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in plan] == ["0"] * 4
    assert {p.env["CNN_TUNE_THREADS"] for p in plan} == {str(max(1, len(os.sched_getaffinity(0)) // 4))}
    assert "CNN_TUNE_THREADS" not in plan_workers(("0",), ["0"], None)[0].env  # alone: the framework's own


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch", "mxnet"])
def test_no_gpu_here_is_found_without_loading_a_framework(backend: str) -> None:
    import sys

    frameworks = ("tensorflow", "jax", "torch")
    had = {name: name in sys.modules for name in frameworks}
    assert visible_gpus(backend) == []  # this machine has no GPU; an unknown backend sees none
    assert {name: name in sys.modules for name in frameworks} == had
