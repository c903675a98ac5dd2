"""The keras-tuner engine over the same space files, driven by the scripted trainer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import CONSTANT_RATE, GRID_CELLS, grid_space, make_settings, scripted_runner

from tuner.errors import CnnTuneError
from tuner.search import run_search
from tuner.search.observer import Observer
from tuner.space import load_space

kt = pytest.importorskip("keras_tuner")


def search(tmp_path: Path, runner: Any, observer: Observer | None = None, **options: Any) -> Any:
    settings = make_settings(
        **{
            "space": "exercise3",
            "out": tmp_path,
            "trials": 4,
            "engine": "keras-tuner",
            "algorithm": "random",
            **options,
        }
    )
    return run_search(settings, observer, run_trial=runner)


def test_every_parameter_kind_translates(tmp_path: Path) -> None:
    from tuner.engines.keras_tuner_engine import declare

    path = tmp_path / "space.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "mnist",
                "params": {
                    "conv_layers": {"int": [1, 3]},
                    "filters": {"choice": [16, 32, 64], "per_layer": True},
                    "kernel_size": {"choice": [3, 5], "when": "conv_layers <= 2"},
                    "dense_units": {"int": [64, 256], "step": 64},
                    "batch_size": {"int": [16, 256], "log": True},
                    "dropout": {"float": [0.0, 0.5], "step": 0.1},
                    "learning_rate": {"float": [1e-4, 1e-2], "log": True},
                    "epochs": 5,
                },
            }
        )
    )
    hp = declare(load_space(path))
    by_name = {h.name: h for h in hp.space}
    assert set(by_name) == {
        "conv_layers",
        "filters_1",
        "filters_2",
        "filters_3",
        "kernel_size",
        "dense_units",
        "batch_size",
        "dropout",
        "learning_rate",
    }
    assert isinstance(by_name["filters_1"], kt.engine.hyperparameters.Choice)
    assert list(by_name["filters_1"].values) == [16, 32, 64] and not by_name["filters_1"].conditions
    depth = by_name["conv_layers"]
    assert (depth.min_value, depth.max_value, depth.step, depth.sampling) == (1, 3, 1, "linear")
    assert [(c.name, list(c.values)) for c in by_name["filters_3"].conditions] == [("conv_layers", [3])]
    assert [(c.name, list(c.values)) for c in by_name["filters_2"].conditions] == [("conv_layers", [2, 3])]
    assert [(c.name, list(c.values)) for c in by_name["kernel_size"].conditions] == [("conv_layers", [1, 2])]
    assert (by_name["dense_units"].step, by_name["batch_size"].sampling) == (64, "log")
    assert (by_name["dropout"].step, by_name["dropout"].sampling) == (0.1, "linear")
    rate = by_name["learning_rate"]
    assert (rate.min_value, rate.max_value, rate.sampling) == (1e-4, 1e-2, "log")


@pytest.mark.parametrize("algorithm", ["random", "bayesian", "hyperband"])
def test_algorithms_run_and_write_the_same_tables_as_optuna(tmp_path: Path, tiny_data: Path, algorithm: str) -> None:
    outcome = search(tmp_path, scripted_runner(), algorithm=algorithm, trials=5)
    reference = run_search(make_settings(space="exercise3", out=tmp_path, trials=2), run_trial=scripted_runner())
    for table in ("trials.csv", "history.csv"):
        ours = pd.read_csv(outcome.store.path / table)
        theirs = pd.read_csv(reference.store.path / table)
        assert list(ours.columns) == list(theirs.columns), table
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert (trials["state"] == "complete").sum() == 5
    assert set(json.loads((outcome.store.path / "best" / "config.json").read_text())) >= {"filters", "epochs"}
    assert (outcome.store.path / "keras_tuner" / "oracle.json").exists()


def test_hyperband_budgets_epochs(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(speed=lambda c: 0.1)  # never reaches the threshold: budgets decide the epochs
    search(tmp_path, runner, algorithm="hyperband", trials=6)
    epochs = [c["config"]["epochs"] for c in runner.calls]
    assert min(epochs) < 20 and all(e <= 20 for e in epochs)


def test_grid_runs_every_combination_once(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner()
    search(tmp_path, runner, space=str(grid_space(tmp_path)), algorithm="grid", trials=100)
    assert sorted((c["config"]["filters"], c["config"]["kernel_size"]) for c in runner.calls) == GRID_CELLS


def test_a_grid_point_that_fails_is_recorded_and_nothing_else_is_drawn(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(
        fail_when=lambda c: "loss became nan" if (c["filters"], c["kernel_size"]) == (32, 5) else None
    )
    outcome = search(tmp_path, runner, space=str(grid_space(tmp_path)), algorithm="grid", trials=100)
    assert sorted((c["config"]["filters"], c["config"]["kernel_size"]) for c in runner.calls) == GRID_CELLS
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert trials["state"].tolist().count("failed") == 1 and len(trials) == len(GRID_CELLS)


def test_conditional_parameters_exist_only_when_active(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner()
    search(tmp_path, runner, space="course-cnn", trials=8, max_epochs=2)
    for call in runner.calls:
        depth = call["config"]["conv_layers"]
        assert [f"filters_{k}" in call["config"] for k in (1, 2, 3)] == [k <= depth for k in (1, 2, 3)]


def test_failed_trials_use_keras_tuners_mechanism_and_the_search_goes_on(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(
        fail_when=lambda c: "the built model breaks `conv_layers == 1`" if c["filters"] == 16 else None
    )
    outcome = search(tmp_path, runner, trials=4, seed=2)
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    failed = trials[trials["state"] == "failed"]
    assert len(failed) >= 1 and set(failed["fail_reason"]) == {"the built model breaks `conv_layers == 1`"}
    assert (trials["state"] == "complete").sum() == 4
    statuses = [
        json.loads(p.read_text())["status"] for p in (outcome.store.path / "keras_tuner").glob("trial_*/trial.json")
    ]
    assert statuses.count("FAILED") == len(failed)


def test_exact_pruner_on_keras_tuner(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(speed=lambda c: c["filters"] / 16)
    outcome = search(tmp_path, runner, trials=8, pruner="exact", seed=3, pins=CONSTANT_RATE)
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert (trials["state"] == "pruned").sum() > 0
    assert trials[trials["state"] == "pruned"]["fail_reason"].str.contains("reached it at epoch").all()


def test_resume_counts_the_whole_study(tmp_path: Path, tiny_data: Path) -> None:
    first = scripted_runner()
    search(tmp_path, first, trials=3)
    second = scripted_runner()
    search(tmp_path, second, trials=5)
    assert (len(first.calls), len(second.calls)) == (3, 2)


class InterruptFirstEpoch(Observer):
    def epoch_ended(self, number: int, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        raise KeyboardInterrupt


def test_an_interrupted_trial_reruns_with_its_values_at_most_twice(tmp_path: Path, tiny_data: Path) -> None:
    configs = []
    for _ in range(3):  # interrupted in its first epoch three times: run, restart, restart
        runner = scripted_runner(speed=lambda c: 0.5)
        outcome = search(tmp_path, runner, InterruptFirstEpoch(), trials=3)
        assert outcome.interrupted
        configs.append(runner.calls[0])
    assert configs[0] == configs[1] == configs[2]
    runner = scripted_runner(speed=lambda c: 0.5)
    outcome = search(tmp_path, runner, trials=3)
    assert runner.calls[0] != configs[0]  # given up after two restarts, not retried forever
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert trials["fail_reason"].tolist()[:3] == ["interrupted by the user (Ctrl-C)"] * 3
    assert (trials["state"] == "complete").sum() == 3


def test_storage_is_refused_for_keras_tuner(tmp_path: Path, tiny_data: Path) -> None:
    with pytest.raises(CnnTuneError, match=r"^storage: keras-tuner keeps its state in the run folder"):
        search(tmp_path, scripted_runner(), storage="sqlite:///x.db")


def test_damaged_state_file_is_a_clear_error(tmp_path: Path, tiny_data: Path) -> None:
    outcome = search(tmp_path, scripted_runner(), trials=1)
    (outcome.store.path / "keras_tuner" / "oracle.json").write_text('{"ongoing_tr')
    with pytest.raises(CnnTuneError, match=r"oracle\.json: keras-tuner's state file is damaged"):
        search(tmp_path, scripted_runner(), trials=2)


def test_unknown_algorithm_lists_the_engines_own(tmp_path: Path, tiny_data: Path) -> None:
    with pytest.raises(
        CnnTuneError,
        match=r"unknown algorithm 'tpe' for engine keras-tuner; choose from: bayesian, grid, hyperband, random",
    ):
        search(tmp_path, scripted_runner(), algorithm="tpe")


@pytest.mark.parametrize("algorithm", ["random", "hyperband"])
def test_keras_tuner_draws_the_start_configurations_first(tmp_path: Path, tiny_data: Path, algorithm: str) -> None:
    starts = list(load_space("exercise3").start)

    def drawn(calls: list[dict]) -> list[dict]:
        return [{k: c["config"][k] for k in starts[0] if k in c["config"]} for c in calls]

    runner = scripted_runner()
    search(tmp_path, runner, trials=3, algorithm=algorithm)
    assert drawn(runner.calls)[:2] == starts and drawn(runner.calls)[2] not in starts
    resumed = scripted_runner()
    search(tmp_path, resumed, trials=5, algorithm=algorithm)  # oracle.json remembers they were drawn
    assert not any(d in starts for d in drawn(resumed.calls))
    skipped = scripted_runner()
    search(tmp_path, skipped, trials=2, algorithm=algorithm, name="no-start", no_start=True)
    assert not any(d in starts for d in drawn(skipped.calls))
