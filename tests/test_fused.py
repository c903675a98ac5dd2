"""JAX's fused epoch (tuner/training/fused.py) on JAX's CPU build: the same trial twice gives the same
numbers, a trial of known shapes compiles nothing, the short last batch counts once, the stop rule,
pruning, annealing and the schedules act as with Keras's fit, and compiled programs are kept on disk.
Each scenario runs in its own process, which runs Keras on JAX (the rest of the suite: TensorFlow)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="no jax here")

# Small learnable data: 70 training rows (batch 32: two full batches and one of 6), bright pixels
# in a class-dependent corner. The helpers below are the start of every scenario.
PRELUDE = """
import json, math
import numpy as np
from tuner.data import Dataset
from tuner.errors import StopTrial
from tuner.space.rules import StopRule
from tuner.training import fused
from tuner.training.options import TrainingOptions
from tuner.training.trainer import train_trial

def images(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 60, (n, 12, 12, 1)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 4 * label : 4 * label + 4, :4] = 250
    return x, y

x, y = images(70, 0)
xv, yv = images(30, 1)
xt, yt = images(40, 2)
data = Dataset("tiny", "made here", "f", ("a", "b", "c"), x, y, xv, yv, xt, yt)
JAX = TrainingOptions(backend="jax")
BASE = {"conv_layers": 1, "filters": 4, "dense_units": 16, "batch_size": 32, "epochs": 3, "learning_rate": 0.01}

def train(config, **kw):
    result = train_trial({**BASE, **config}, kw.pop("dataset", data), seed=kw.pop("seed", 0), options=JAX, **kw)
    return {"state": result.state, "reason": result.fail_reason, "history": result.history,
            "test": result.test_accuracy, "epochs": result.epochs_run}

def same(a, b):
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h["history"]]
    return strip(a) == strip(b) and a["test"] == b["test"]
"""


def scenario(code: str, tmp_path: Path, compiled: str | None = None) -> dict:
    """The JSON the scenario prints last, run in a new process on JAX, its programs kept in
    `compiled` (default: a folder in tmp_path)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "CNN_TUNE_COMPILE_CACHE": compiled or str(tmp_path / "compiled")}
    script = PRELUDE + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


SCENARIOS = {
    "the_same_trial_twice_is_identical_and_a_known_shape_compiles_nothing": """
        config = {"dropout": 0.2, "batch_norm": True, "lr_schedule": "cosine", "schedule_epochs": 2}
        first = train(config)
        compiled = fused.programs_compiled()
        again = train(config)
        # Other rate, dropout rate, schedule and seed: the same shapes, so the same programs.
        other = train({"dropout": 0.1, "batch_norm": True, "learning_rate": 0.003, "lr_schedule": "one_cycle"}, seed=5)
        after = fused.programs_compiled()
        wider = train({"dropout": 0.1, "batch_norm": True, "filters": 8})
        print(json.dumps({"first": first, "same": same(first, again), "differs": not same(first, other),
                          "compiled": compiled, "after": after, "wider": fused.programs_compiled()}))
        """,
    "steps_per_call_change_nothing_but_the_speed": """
        import os
        runs = {}
        for per_call in ("1", "epoch", "2"):
            os.environ["CNN_TUNE_STEPS_PER_CALL"] = per_call
            runs[per_call] = train({"dropout": 0.2, "batch_norm": True, "lr_schedule": "one_cycle"})
        print(json.dumps(runs))
        """,
    "the_short_last_batch_counts_once_with_its_own_weight": """
        same_rows = Dataset("tiny", "made here", "f", ("a", "b", "c"), x, y, x, y, xt, yt)
        result = train({"learning_rate": 1e-7, "epochs": 1}, dataset=same_rows)
        print(json.dumps(result["history"][0]))
        """,
    "the_stop_rule_pruning_and_a_failed_trial": """
        said = []
        rule = StopRule("accuracy", 0.0, "Reached the threshold so cancelling training!")
        stopped = train({}, stop=rule, say=said.append)
        def prune(epoch, logs):
            if epoch == 2:
                raise StopTrial("pruned at epoch 2")
        pruned = train({}, on_epoch=prune)
        broken = x.astype(np.float32) / 255
        broken[5, 0, 0, 0] = np.nan  # one pixel of one image
        nan = train({}, dataset=Dataset("nan", "s", "f", ("a", "b", "c"), broken, y, xv / 255, yv, xt / 255, yt))
        print(json.dumps({"stopped": stopped, "said": said, "pruned": pruned, "nan": nan}))
        """,
    "annealing_and_schedules_set_the_rate_as_keras_does": """
        import jax.numpy as jnp
        from tuner.training.schedules import rate_at, schedule_inputs
        # The program's schedule against the reference, every step of two short horizons.
        worst = 0.0
        for kind in ("constant", "cosine", "one_cycle", "step"):
            config = {"learning_rate": 0.004, "lr_schedule": kind, "schedule_epochs": 3, "epochs": 5}
            hp = {k: jnp.asarray(v, jnp.float32) for k, v in schedule_inputs(config, 7).items()}
            for step in range(40):
                got = float(fused._scheduled_rate(hp, jnp.asarray(step), jnp.asarray(0.004, jnp.float32)))
                worst = max(worst, abs(got - rate_at(config, step, 7)) / 0.004)
        cosine = train({"lr_schedule": "cosine", "schedule_epochs": 2, "epochs": 3})
        annealed = train({"lr_annealing": True, "lr_patience": 1, "learning_rate": 0.3, "epochs": 6})
        print(json.dumps({"worst": worst, "cosine": cosine, "annealed": annealed}))
        """,
    "which_data_goes_to_the_device": """
        import os
        from dataclasses import replace
        from tuner.data import Rows
        folder = replace(
            data, x_train=Rows(x, np.arange(70)), x_val=Rows(xv, np.arange(30)), x_test=Rows(xt, np.arange(40))
        )
        arrays, mapped = fused.fits_on_device(data), fused.fits_on_device(folder)
        os.environ["CNN_TUNE_DEVICE_DATA_GB"] = "0.00001"  # 10 KiB: less than the 20 KiB of images
        print(json.dumps({"arrays": arrays, "too_big": fused.fits_on_device(data), "folder": mapped}))
        """,
}


# Scenarios that share one process (one start of Python, Keras and JAX), in this order: the first
# counts the programs compiled from a fresh start. Each sees the environment as it was before it.
SCENARIOS_RUNNER = """
import contextlib, io, os
results = {}
for name, code in json.loads(SCENARIOS_JSON).items():
    saved, printed = dict(os.environ), io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(textwrap.dedent(code), dict(globals()))
    os.environ.clear()
    os.environ.update(saved)
    results[name] = json.loads(printed.getvalue().strip().splitlines()[-1])
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What each of SCENARIOS printed, all run in one new process on JAX."""
    script = f"import textwrap\nSCENARIOS_JSON = {json.dumps(json.dumps(SCENARIOS))}\n{SCENARIOS_RUNNER}"
    return scenario(script, tmp_path_factory.mktemp("fused"))


def test_the_same_trial_twice_is_identical_and_a_known_shape_compiles_nothing(shared: dict) -> None:
    out = shared["the_same_trial_twice_is_identical_and_a_known_shape_compiles_nothing"]
    assert out["first"]["state"] == "complete" and out["first"]["epochs"] == 3
    assert out["same"] and out["differs"]
    # One training epoch and one evaluation (validation and test have other lengths: two) per shape.
    assert out["compiled"] == {"train": 1, "evaluate": 2}
    assert out["after"] == out["compiled"]
    assert out["wider"] == {"train": 2, "evaluate": 4}
    assert out["first"]["history"][-1]["accuracy"] > 0.5  # it learns


def test_steps_per_call_change_nothing_but_the_speed(shared: dict) -> None:
    """One step per call (the CPU's default), the whole epoch in one call (a GPU's), and two per
    call, which runs past the epoch's three steps in its last call: the same training."""
    out = shared["steps_per_call_change_nothing_but_the_speed"]
    for per_call in ("epoch", "2"):
        for got, want in zip(out[per_call]["history"], out["1"]["history"], strict=True):
            for name in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
                assert got[name] == pytest.approx(want[name], rel=1e-4, abs=1e-6), (per_call, name)


def test_the_short_last_batch_counts_once_with_its_own_weight(shared: dict) -> None:
    """With a rate too small to move the weights, an epoch's mean training loss and accuracy over
    its 70 rows (32 + 32 + 6) equal an evaluation of the same rows."""
    out = shared["the_short_last_batch_counts_once_with_its_own_weight"]
    assert out["loss"] == pytest.approx(out["val_loss"], abs=1e-5)
    assert out["accuracy"] == pytest.approx(out["val_accuracy"], abs=1e-9)
    assert round(out["accuracy"] * 70) == pytest.approx(out["accuracy"] * 70, abs=1e-4)  # a count of 70 rows


def test_the_stop_rule_pruning_and_a_failed_trial(shared: dict) -> None:
    out = shared["the_stop_rule_pruning_and_a_failed_trial"]
    assert out["stopped"]["epochs"] == 1 and out["said"] == ["Reached the threshold so cancelling training!"]
    assert out["pruned"]["state"] == "pruned" and out["pruned"]["epochs"] == 2
    assert out["pruned"]["reason"] == "pruned at epoch 2"
    assert out["nan"]["state"] == "failed" and "loss became" in out["nan"]["reason"]


def test_annealing_and_schedules_set_the_rate_as_keras_does(shared: dict) -> None:
    out = shared["annealing_and_schedules_set_the_rate_as_keras_does"]
    assert out["worst"] < 1e-5
    rates = [row["learning_rate"] for row in out["cosine"]["history"]]
    assert rates[0] == pytest.approx(0.01 * 0.5 * (1 + 0.0), abs=1e-6)  # cos(pi * 3/6) after epoch 1 of 2
    assert rates[1:] == pytest.approx([0.0, 0.0], abs=1e-9)
    # ReduceLROnPlateau (patience 1): the rate is divided by 10 after each epoch whose validation loss
    # is no better than the best so far, as Keras's own callback decides from the same numbers.
    history = out["annealed"]["history"]
    rate, best, expected = 0.3, float("inf"), []
    for row in history:
        if row["val_loss"] < best - 1e-4:
            best = row["val_loss"]
        else:
            rate /= 10
        expected.append(rate)
    assert [row["learning_rate"] for row in history] == pytest.approx(expected, rel=1e-6)
    assert any(r < 0.3 for r in expected)  # the scenario does stall


def test_compiled_programs_are_kept_on_disk_unless_turned_off(tmp_path: Path) -> None:
    code = """
        train({"epochs": 1})
        import jax
        print(json.dumps({"folder": jax.config.jax_compilation_cache_dir}))
        """
    out = scenario(code, tmp_path)
    assert out["folder"] == str(tmp_path / "compiled") and any((tmp_path / "compiled").iterdir())
    loaded = """
        import jax
        print(json.dumps({"folder": jax.config.jax_compilation_cache_dir}))
        """  # the prelude has loaded Keras, which sets the cache up
    assert scenario(loaded, tmp_path, compiled="off") == {"folder": None}


def test_which_data_goes_to_the_device(shared: dict) -> None:
    out = shared["which_data_goes_to_the_device"]
    # Arrays in memory go; past the limit they stay; on the CPU an image folder stays memory-mapped.
    assert out == {"arrays": True, "too_big": False, "folder": False}
