"""The trial loop with a pack runner: several trials trained at once, each asked for, pruned, recorded
and told as a trial trained alone is; slots refilled, a failing slot, a program that cannot go on, Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ScriptedPack, make_settings, scripted_runner

from tuner.engines.base import Slot
from tuner.errors import CnnTuneError
from tuner.search import run_search
from tuner.search.observer import Observer

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
    spans = sorted(pack.spans.values())
    assert any(b[0] > 1 and a[0] < b[0] <= a[1] for a in spans for b in spans)  # began while another trained on


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


def test_the_disk_filling_mid_pack_ends_the_search_and_a_resume_runs_the_pack_again(
    tmp_path: Path, tiny_data: Path
) -> None:
    class FullDisk(Observer):  # the second trial's end fails to write, as a full disk makes the tables
        ended = 0

        def trial_finished(self, record: Any) -> None:
            self.ended += 1
            if self.ended == 2:
                raise OSError(28, "No space left on device", str(tmp_path / RUN / "trials.csv"))

    with pytest.raises(CnnTuneError, match=r"cannot write .*No space left on device"):
        run_search(_settings(tmp_path, trials=6), FullDisk(), run_trial=ScriptedPack(width=3))
    trials = _trials(tmp_path)
    stopped = trials[trials["fail_reason"].fillna("").str.startswith("the search stopped")]
    # The two trials that ended are kept; the ones still training are recorded stopped, to run again.
    assert (trials["state"] == "complete").sum() == 2 and len(stopped) >= 1 and len(trials) == 2 + len(stopped)
    again = ScriptedPack(width=3)
    run_search(_settings(tmp_path, trials=6), run_trial=again)
    trials = _trials(tmp_path)
    assert (trials["state"] == "complete").sum() == 6
    rerun = again.calls[: len(stopped)]
    assert sorted(json.dumps(c["config"], sort_keys=True) for c in rerun) == sorted(stopped["config"])


def test_a_runner_that_ends_a_trial_twice_or_fails_before_any_trial_stops_the_search(
    tmp_path: Path, tiny_data: Path
) -> None:
    class Twice(ScriptedPack):
        def epoch(self, slot: Slot, result: Any) -> bool:
            ended = super().epoch(slot, result)
            if ended:
                slot.end(result)
            return ended

    with pytest.raises(RuntimeError, match=r"ended trial \d+ twice"):
        run_search(_settings(tmp_path / "twice", trials=4), run_trial=Twice(width=2))

    class Broken(ScriptedPack):
        def run(self, take: Any) -> None:
            raise RuntimeError("no device")

    with pytest.raises(RuntimeError, match="no device"):  # nothing it trained to blame: not a loop of failures
        run_search(_settings(tmp_path / "broken", trials=4), run_trial=Broken(width=2))


def test_a_pack_needs_an_optuna_study(tmp_path: Path, tiny_data: Path) -> None:
    settings = make_settings(space="exercise3", out=tmp_path, engine="keras-tuner", trials=2)
    with pytest.raises(CnnTuneError, match="use the optuna engine"):
        run_search(settings, run_trial=ScriptedPack(width=2))
