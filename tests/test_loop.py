"""The one trial loop, driven by a third engine written in one small file (tests/helpers/random_engine.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_settings, scripted_runner

from tuner.engines import ENGINES, get_engine
from tuner.errors import CnnTuneError
from tuner.search import run_search

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))


@pytest.fixture
def plain_random(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(ENGINES, "plain-random", "random_engine:PlainRandom")
    return "plain-random"


def test_an_engine_of_one_small_file_runs_the_shared_loop(tmp_path: Path, tiny_data: Path, plain_random: str) -> None:
    runner = scripted_runner(speed=lambda c: c["filters"] / 16)
    outcome = run_search(
        make_settings(
            space="exercise3", out=tmp_path, trials=8, engine=plain_random, no_start=True, seed=4, pruner="exact"
        ),
        run_trial=runner,
    )
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert outcome.store.path.name == "exercise3-plain-random-uniform"
    assert len(trials) == 8 and len(runner.calls) == 8
    assert set(trials["state"]) <= {"complete", "pruned"} and (trials["state"] == "pruned").any()
    # the loop's exact pruner stopped the slower trials at the best epoch count found before them
    reached = trials[trials["reached_threshold"] == True]  # noqa: E712
    for _, row in trials[trials["state"] == "pruned"].iterrows():
        assert row["epochs_run"] == reached[reached["trial"] < row["trial"]]["epochs_to_threshold"].min()
    assert (outcome.store.path / "leaderboard.md").exists() and (outcome.store.path / "best" / "config.json").exists()


def test_the_loop_stops_when_found_and_after_failures_in_a_row(
    tmp_path: Path, tiny_data: Path, plain_random: str
) -> None:
    runner = scripted_runner(speed=lambda c: 2.0)  # at the threshold by epoch 3, within any horizon
    run_search(
        make_settings(space="exercise3", out=tmp_path, trials=20, engine=plain_random, stop_when_found=True),
        run_trial=runner,
    )
    assert len(runner.calls) == 1  # the first trial met the stop rule
    failing = scripted_runner(fail_when=lambda c: "loss became nan at epoch 1")
    with pytest.raises(CnnTuneError, match="stopped after 5 trials in a row failed; the last one: loss became nan"):
        run_search(
            make_settings(space="exercise3", out=tmp_path, name="f", trials=9, engine=plain_random), run_trial=failing
        )
    assert len(failing.calls) == 5


def test_an_epoch_budget_ends_the_search_once_the_finished_trials_trained_it(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(speed=lambda c: c["filters"] / 32)  # 16 filters: 8 epochs to the threshold
    settings = make_settings(space="exercise3", out=tmp_path, name="b", trials=50, epochs=20, seed=2)
    run_search(settings, run_trial=runner)
    trials = pd.read_csv(tmp_path / "b" / "trials.csv")
    spent = trials["epochs_run"].cumsum()
    # every trial started while fewer than 20 epochs were spent; the last one took the total past them
    assert len(trials) == len(runner.calls) < 50
    assert spent.iloc[-1] >= 20 and (spent.iloc[:-1] < 20).all()
    # the same command again resumes a spent study: no trial starts
    run_search(settings, run_trial=runner)
    assert len(runner.calls) == len(trials)


def test_a_trial_that_raises_is_recorded_failed_and_the_search_goes_on(
    tmp_path: Path, tiny_data: Path, plain_random: str
) -> None:
    inner = scripted_runner()

    def runner(config: dict, seed: int, on_epoch, say):  # type: ignore[no-untyped-def]
        if len(inner.calls) == 0 and not getattr(runner, "raised", False):
            runner.raised = True  # type: ignore[attr-defined]
            raise RuntimeError("CUDA driver went away")
        return inner(config, seed, on_epoch, say)

    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=2, engine=plain_random, pruner="none"), run_trial=runner
    )
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert trials["state"].tolist() == ["failed", "complete", "complete"]
    assert trials["fail_reason"].iloc[0] == "RuntimeError: CUDA driver went away"


def test_unknown_engine_and_algorithm_name_the_choices() -> None:
    with pytest.raises(CnnTuneError, match=r"^engine: unknown engine 'x'; choose from: keras-tuner, optuna"):
        get_engine("x")
    with pytest.raises(CnnTuneError, match=r"^algorithm: unknown algorithm 'tpe' for engine keras-tuner"):
        get_engine("keras-tuner", "tpe")
