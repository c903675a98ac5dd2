"""Keras on JAX and PyTorch (CPU builds): real searches, exact reproduction, faults and worker placement,
each in its own process because a process runs Keras on one backend only. The rest of the suite runs on
TensorFlow, the CPU default."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_cli import invoke, one_line_error

OTHERS = [
    pytest.param(name, marks=pytest.mark.skipif(importlib.util.find_spec(name) is None, reason=f"no {name} here"))
    for name in ("jax", "torch")
]


def cnn_tune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tuner", *args]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)


def python(code: str, env: dict[str, str | None]) -> str:
    """The last line `code` prints in a new process with `env` over this one's (None values unset)."""
    merged = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=merged, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("backend", OTHERS)
def test_a_search_with_two_workers_and_its_exact_reproduction(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    ran = cnn_tune(
        "run", "--space", "exercise3", "--backend", backend, "--workers", "2", "--trials", "3",
        "--max-epochs", "2", "--out", str(tmp_path), "-q",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    folder = tmp_path / "exercise3-optuna-cost-tpe"
    record = json.loads((folder / "run.json").read_text())
    assert record["backend"] == backend and record["identity"]["backend"] == backend
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 3 and set(trials["state"]) <= {"complete", "pruned"}
    assert trials["reached_threshold"].any()  # the tiny data is learnable in two epochs
    assert f"backend {backend}" in (folder / "leaderboard.md").read_text()

    again = cnn_tune("reproduce", str(folder))
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert "reproduced: every figure within 1e-06 of the record" in again.stdout

    # inspect loads the saved model on the run's own backend (TensorFlow is installed here too)
    shown = cnn_tune("inspect", str(folder), "--images", "0", "--filter", "0")
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert list(folder.glob("inspect-trial*-filter0.png"))


@pytest.mark.parametrize("backend", OTHERS)
def test_keras_tuner_searches_on(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    ran = cnn_tune(
        "run", "--space", "exercise3", "--engine", "keras-tuner", "--backend", backend, "--trials", "2",
        "--max-epochs", "2", "--out", str(tmp_path), "-q",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "exercise3-keras-tuner-random" / "trials.csv")
    assert len(trials) == 2 and trials["epochs_run"].ge(1).all() and not trials["state"].eq("failed").any()


# Each framework's own out-of-memory error, raised where a failed allocation would surface in a trial.
OUT_OF_MEMORY = {
    "jax": "jax.errors.JaxRuntimeError('RESOURCE_EXHAUSTED: Out of memory allocating 17179869184 bytes.')",
    "torch": "torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 16.00 GiB')",
}


@pytest.mark.parametrize("backend", OTHERS)
def test_out_of_memory_fails_the_trial_and_other_errors_still_raise(backend: str, tiny_data: Path) -> None:
    code = f"""
import json
import {backend}
from tuner.training.backend import use_backend
use_backend({backend!r})
from tuner.data import load_dataset
from tuner.training.trainer import train_trial

def allocate(epoch, logs):
    raise {OUT_OF_MEMORY[backend]}

def bug(epoch, logs):
    raise KeyError("a bug, not a trial's failure")

data = load_dataset("mnist", validation_split=0.1, seed=0)
config = {{"filters": 8, "dense_units": 16, "batch_size": 64, "epochs": 2}}
result = train_trial(config, data, seed=0, on_epoch=allocate, say=lambda text: None)
try:
    train_trial(config, data, seed=0, on_epoch=bug, say=lambda text: None)
    raised = False
except KeyError:
    raised = True
print(json.dumps([result.state, result.fail_reason, result.epochs_run, raised]))
"""
    state, reason, epochs, raised = json.loads(python(code, {}))
    assert state == "failed" and epochs == 1 and raised
    assert reason.startswith("out of memory: ") and ("RESOURCE_EXHAUSTED" in reason or "CUDA out of memory" in reason)


@pytest.mark.parametrize("backend", OTHERS)
def test_a_worker_keeps_to_its_cores_threads_and_gpu_memory_share(backend: str) -> None:
    code = """
import json, os
from tuner.training.backend import keras, active_backend
threads = None
if active_backend() == "torch":
    import torch
    threads = torch.get_num_threads()
print(json.dumps([active_backend(), sorted(os.sched_getaffinity(0)), threads,
                  os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"),
                  os.environ.get("XLA_FLAGS"), os.environ.get("CUBLAS_WORKSPACE_CONFIG")]))
"""
    core = str(sorted(os.sched_getaffinity(0))[-1])
    placement = {"CNN_TUNE_CORES": core, "CNN_TUNE_THREADS": "1", "CNN_TUNE_MEMORY_GROWTH": "1"}
    unset = {"XLA_PYTHON_CLIENT_PREALLOCATE": None, "XLA_FLAGS": None, "CUBLAS_WORKSPACE_CONFIG": None}
    env = {"KERAS_BACKEND": backend, **unset, **placement}
    loaded, cores, threads, preallocate, xla_flags, cublas = json.loads(python(code, env))
    assert loaded == backend and cores == [int(core)]
    if backend == "torch":  # deterministic cuBLAS needs its workspace fixed before CUDA starts
        assert threads == 1 and cublas == ":4096:8"
    else:  # K trials share a GPU: JAX takes memory as needed instead of 75% up front
        assert preallocate == "false" and xla_flags == "--xla_gpu_deterministic_ops=true"


def test_the_deterministic_settings_keep_the_users_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuner.training import backend

    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    backend._deterministic_before_import("jax")
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true"
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")  # the user's own choice wins
    backend._deterministic_before_import("jax")
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=false"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    backend._deterministic_before_import("torch")
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


@pytest.mark.parametrize("backend", OTHERS[:1])
def test_no_deterministic_leaves_the_gpu_kernels_alone(backend: str) -> None:
    code = """
import os
from tuner.training.backend import use_backend
use_backend("jax", deterministic=False)
from tuner.training.backend import keras
print(repr(os.environ.get("XLA_FLAGS")))
"""
    assert python(code, {"KERAS_BACKEND": None, "XLA_FLAGS": None}) == "None"


def test_an_unknown_backend_is_one_line(tiny_data: Path) -> None:
    result = invoke("run", "--space", "exercise3", "--backend", "mxnet", "--trials", "1")
    one_line_error(result, r"^error: --backend mxnet: choose one of tensorflow, jax, torch$")


def test_a_missing_backend_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuner.errors import CnnTuneError
    from tuner.training import backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(CnnTuneError, match=r"^backend jax: jax is not installed; .*pip install 'cnn-tune\[jax\]'"):
        backend.check_backend("jax")


def test_pytorch_takes_one_step_per_execution(tiny_data: Path) -> None:
    result = invoke("run", "--space", "exercise3", "--backend", "torch", "--steps-per-execution", "8")
    one_line_error(result, r"^error: --steps-per-execution: Keras on PyTorch takes only 1")


@pytest.mark.parametrize("backend", OTHERS)
def test_a_process_keeps_the_backend_keras_loaded_with(backend: str, tiny_data: Path, tmp_path: Path) -> None:
    from tuner.training.backend import active_backend, keras

    assert keras.__name__ == "keras" and active_backend() == "tensorflow"  # the suite's own process
    result = invoke("run", "--space", "exercise3", "--backend", backend, "--trials", "1", "--out", str(tmp_path))
    one_line_error(result, rf"^error: --backend {backend}: Keras already runs on tensorflow in this process")


@pytest.mark.parametrize("backend", OTHERS)
def test_keras_imported_by_the_caller_on_another_backend_is_refused(backend: str) -> None:
    code = f"""
import keras  # a notebook's own import, on TensorFlow
from tuner.errors import CnnTuneError
from tuner.training.backend import use_backend
try:
    use_backend({backend!r})
    print("accepted")
except CnnTuneError as exc:
    print(exc)
"""
    said = python(code, {"KERAS_BACKEND": None})
    assert (
        said
        == f"backend {backend}: Keras already runs on tensorflow in this process; use a new process for another backend"
    )
