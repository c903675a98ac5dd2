"""The trial loop with a pack runner: several trials trained at once, each asked for, pruned, recorded
and told as a trial trained alone is; slots refilled, a failing slot, a program that cannot go on, Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from conftest import ScriptedPack, make_settings, scripted_runner

from tuner.search import run_search

RUN = "exercise3-optuna-random"


def _trials(out: Path, name: str = RUN) -> pd.DataFrame:
    return pd.read_csv(out / name / "trials.csv")


def _settings(out: Path, **options: object) -> object:
    return make_settings(space="exercise3", out=out, algorithm="random", pruner="none", no_start=True, **options)


def test_a_pack_records_each_trial_as_the_same_trial_trained_alone(tmp_path: Path, tiny_data: Path) -> None:
    # With random proposals and no pruner, a trial's record depends on its configuration only: the
    # pack's records must equal those of the same search run one trial at a time.
    pack = ScriptedPack(width=3)
    run_search(_settings(tmp_path / "pack", trials=8), run_trial=pack)
    run_search(_settings(tmp_path / "alone", trials=8), run_trial=scripted_runner())
    columns = ["trial", "state", "config", "epochs_run", "value", "reached_threshold", "val_accuracy", "fit_seconds"]
    packed, alone = _trials(tmp_path / "pack")[columns], _trials(tmp_path / "alone")[columns]
    pd.testing.assert_frame_equal(packed, alone)
    assert pack.widest == 3 and len(pack.calls) == 8
    history = pd.read_csv(tmp_path / "pack" / RUN / "history.csv")
    pd.testing.assert_frame_equal(history, pd.read_csv(tmp_path / "alone" / RUN / "history.csv"))


def test_a_freed_slot_takes_the_next_trial_while_the_others_train(tmp_path: Path, tiny_data: Path) -> None:
    pack = ScriptedPack(width=2)
    run_search(_settings(tmp_path, trials=6), run_trial=pack)
    trials = _trials(tmp_path)
    assert len(trials) == 6 and set(trials["state"]) == {"complete"}
    # Fewer rounds than the trials' epochs one after another: two trained side by side, each slot
    # refilled as its trial ended, so the pack never waited for the slower one.
    assert pack.rounds < trials["epochs_run"].sum() and pack.widest == 2
    starts = pd.to_datetime(trials["started"])
    assert (starts.diff().dropna() >= pd.Timedelta(0)).all()


def test_a_pruned_slot_and_a_failing_slot_end_their_trials_only(tmp_path: Path, tiny_data: Path) -> None:
    pack = ScriptedPack(width=3, fail_when=lambda c: "NaN loss" if c.get("filters") == 64 else None)
    settings = make_settings(space="exercise3", out=tmp_path, no_start=True, trials=10, seed=3)
    run_search(settings, run_trial=pack)  # the default: cost-tpe with its pruners
    trials = pd.read_csv(tmp_path / "exercise3-optuna-cost-tpe" / "trials.csv")
    assert len(trials[trials["state"].isin(["complete", "pruned"])]) == 10
    failed = trials[trials["state"] == "failed"]
    assert len(failed) >= 1 and set(failed["fail_reason"]) == {"NaN loss"}
    assert set(failed["config"].map(lambda text: '"filters": 64' in text)) == {True}
    pruned = trials[trials["state"] == "pruned"]
    assert len(pruned) >= 1 and pruned["fail_reason"].str.len().min() > 0


def test_a_program_that_cannot_go_on_fails_its_trials_and_the_search_goes_on(tmp_path: Path, tiny_data: Path) -> None:
    pack = ScriptedPack(width=3, crash_at=2)
    outcome = run_search(_settings(tmp_path, trials=6), run_trial=pack)
    assert not outcome.interrupted
    trials = _trials(tmp_path)
    failed = trials[trials["state"] == "failed"]
    assert len(failed) == 3 and set(failed["fail_reason"]) == {"the pack stopped: RuntimeError: XLA ran out of memory"}
    assert (trials["state"] == "complete").sum() == 6  # the search went on to its count


def test_ctrl_c_records_every_trial_of_the_pack_and_a_resume_runs_them_again(tmp_path: Path, tiny_data: Path) -> None:
    pack = ScriptedPack(width=3, interrupt_at=3)
    outcome = run_search(_settings(tmp_path, trials=6), run_trial=pack)
    assert outcome.interrupted and outcome.exit_code == 130
    trials = _trials(tmp_path)
    interrupted = trials[trials["fail_reason"] == "interrupted by the user (Ctrl-C)"]
    assert len(interrupted) == 3 and set(interrupted["state"]) == {"failed"}
    again = ScriptedPack(width=3)
    run_search(_settings(tmp_path, trials=6), run_trial=again)
    trials = _trials(tmp_path)
    assert (trials["state"] == "complete").sum() == 6
    # The interrupted trials' configurations were queued again and are the first the resumed pack trains.
    queued = sorted(interrupted["config"])
    assert sorted(json.dumps(c["config"], sort_keys=True) for c in again.calls[:3]) == queued
