"""The loop's cost stays flat as the study grows: what the pruners ask is kept up to date trial by trial,
and it must decide exactly as a recomputation over every record would; the tables are rewritten
only every few seconds, and an interruption between two rewrites loses no finished trial."""

from __future__ import annotations

import math
import random
from pathlib import Path
from statistics import median
from typing import Any

import pandas as pd
import pytest
from conftest import make_settings, scripted_runner

import tuner.search.loop
import tuner.search.session
from tuner.pruners import Hyperband, MedianStop, Progress, Pruner, make_pruner
from tuner.pruners.base import intermediate_values
from tuner.pruners.finished import Finished, fastest
from tuner.records import TrialRecord
from tuner.search import run_search
from tuner.search.loop import TrialLoop
from tuner.space import load_space


def _history(rate: float, epochs: int, seconds: float) -> list[dict[str, float]]:
    return [{"epoch": e, "accuracy": 1 - 0.5 * math.exp(-rate * e), "seconds": seconds} for e in range(1, epochs + 1)]


def _records(count: int, seed: int) -> list[TrialRecord]:
    """Finished trials of every kind: met the rule (ties on epochs included), missed it, pruned."""
    rng = random.Random(seed)
    records = []
    for number in range(count):
        rate, seconds = rng.uniform(0.5, 3.0), rng.choice([0.5, 1.0, 1.5])
        history = _history(rate, rng.randint(1, 8), seconds)
        reached = next((row["epoch"] for row in history if row["accuracy"] >= 0.998), None)
        state = rng.choice(["complete", "complete", "pruned"])
        result = {
            "reached_threshold": state == "complete" and reached is not None,
            "epochs_to_threshold": reached if state == "complete" else None,
            "seconds_to_threshold": None if reached is None or state != "complete" else reached * seconds,
            "seconds_per_epoch": seconds,
        }
        records.append(TrialRecord(number, state, result=result, history=history))
    return records


def _brute_fastest(records: list[TrialRecord], key: str) -> tuple[float, float, int] | None:
    best = None
    for r in records:
        if r.state == "complete" and r.result.get("reached_threshold") and r.result.get(key) is not None:
            seconds = r.result.get("seconds_to_threshold")
            candidate = (float(r.result[key]), math.inf if seconds is None else float(seconds), r.trial)
            best = candidate if best is None or candidate < best else best
    return best


def _brute_median(pruner: MedianStop, trial: Progress, records: list[TrialRecord]) -> float | None:
    """The median the pruner compares with, recomputed from every record (None: it does not compare)."""
    complete = [r for r in records if r.state == "complete"]
    epoch = trial.epoch
    if len(complete) < pruner.startup or epoch < pruner.warmup:
        return None
    # a complete trial that ended before `epoch` counts with its final value
    others = [v[min(epoch, len(v)) - 1] for r in complete if (v := intermediate_values(pruner.space, r.history))]
    others = [v for v in others if not math.isnan(v)]
    return median(others) if others else None


def _brute_hyperband(pruner: Hyperband, trial: Progress, records: list[TrialRecord]) -> bool:
    """Whether Hyperband stops `trial`, recomputed from every record."""
    bracket, epoch = pruner.bracket(trial.number), trial.epoch
    rung = 0
    while (step := pruner.min_epochs * pruner.factor ** (bracket + rung)) <= epoch:
        if step == epoch:
            value = trial.values[-1]
            rivals = [
                v[step - 1]
                for r in records
                if pruner.bracket(r.trial) == bracket and len(v := intermediate_values(pruner.space, r.history)) >= step
            ]
            competing = sorted([*rivals, value], reverse=not pruner.minimize)
            cut = competing[max(len(competing) // pruner.factor - 1, 0)]
            return value > cut if pruner.minimize else value < cut
        rung += 1
    return False


def test_what_the_pruners_ask_matches_a_recomputation_after_every_trial() -> None:
    space = load_space("exercise3")
    records = _records(120, seed=3)
    view = Finished()
    pruners = {name: make_pruner(name, space) for name in ("exact", "curve", "ladder", "median", "hyperband")}
    rng = random.Random(5)
    decisions = 0
    for count, record in enumerate(records, start=1):
        view.add(record)
        held = records[:count]
        for key in ("epochs_to_threshold", "seconds_to_threshold"):
            assert view.fastest(key) == _brute_fastest(held, key) == fastest(list(held), key)
        assert view.found == any(r.state == "complete" and r.result["reached_threshold"] for r in held)
        assert view.complete == sum(r.state == "complete" for r in held)
        assert view.slowest_pace == max(r.result["seconds_per_epoch"] for r in held)
        for _ in range(3):  # a running trial at some epoch, asked of every pruner
            epochs = rng.randint(1, 9)
            history = _history(rng.uniform(0.3, 3.0), epochs, rng.choice([0.5, 1.0]))
            trial = Progress(1000 + count, [space.objective.intermediate(r, space.stop) for r in history], history)
            for name, pruner in pruners.items():
                fresh = make_pruner(name, space)  # no state kept: folds over every record, from scratch
                assert pruner.reason(trial, view) == fresh.reason(trial, list(held)), (name, count)
                decisions += 1
            median_pruner: Any = pruners["median"]
            middle = _brute_median(median_pruner, trial, held)
            best = min(trial.values) if median_pruner.minimize else max(trial.values)
            worse = middle is not None and (best > middle if median_pruner.minimize else best < middle)
            assert (median_pruner.reason(trial, view) is not None) == worse
            assert (pruners["hyperband"].reason(trial, view) is not None) == _brute_hyperband(
                pruners["hyperband"],  # type: ignore[arg-type]
                trial,
                held,
            )
    assert decisions == 120 * 3 * 5


def test_a_finished_trial_is_held_once() -> None:
    records = _records(5, seed=1)
    view = Finished(records)
    assert not view.add(records[2]) and len(view) == len([r for r in records if r.state in ("complete", "pruned")])
    assert not view.add(TrialRecord(99, "running")) and not view.add(TrialRecord(98, "failed"))
    assert view.holds(records[0].trial) and not view.holds(99)


@pytest.mark.parametrize("pruner", ["exact+curve+ladder", "median", "hyperband"])
def test_a_search_prunes_as_a_recomputation_over_the_study_would(
    pruner: str, tmp_path: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each epoch, the loop's finished trials are the study's, and each pruner's decision is the one a
    fresh pruner makes over the study's records read again."""
    asked: list[str | None] = []
    looks = 0
    original = TrialLoop.finished_trials

    def checked(self: TrialLoop) -> Finished:
        nonlocal looks
        view = original(self)
        study = [r for r in self.engine.records() if r.state in ("complete", "pruned")]
        assert sorted(r.trial for r in view) == [r.trial for r in study]
        looks += 1
        return view

    class Checked(Pruner):
        name, description = "checked", "the real pruner, checked against a fresh one"

        def __init__(self, real: Pruner, name: str, space: Any) -> None:
            super().__init__(space)
            self.real, self.chain = real, name

        def reason(self, trial: Progress, finished: Any) -> str | None:
            answer = self.real.reason(trial, finished)
            assert answer == make_pruner(self.chain, self.space).reason(trial, list(finished))
            asked.append(answer)
            return answer

        def __str__(self) -> str:
            return str(self.real)

    def wrapped(name: str, space: Any) -> Pruner:
        return Checked(make_pruner(name, space), name, space)

    monkeypatch.setattr(TrialLoop, "finished_trials", checked)
    monkeypatch.setattr(tuner.search.session, "make_pruner", wrapped)
    runner = scripted_runner(speed=lambda c: c["filters"] / 24 + c["learning_rate"] * 100)
    run_search(
        make_settings(space="exercise3", out=tmp_path, trials=30, no_start=True, pruner=pruner, max_epochs=8),
        run_trial=runner,
    )
    assert looks > 30 and len(asked) > 30
    assert any(asked), "no trial was pruned: the check compared nothing"


def test_an_interruption_between_two_saves_loses_no_finished_trial(
    tmp_path: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuner.search.loop, "SAVE_SECONDS", 1e9)  # the tables only at the first trial and the end
    inner = scripted_runner()
    calls = 0

    def runner(config: dict[str, Any], seed: int, on_epoch: Any, say: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise KeyboardInterrupt
        return inner(config, seed, on_epoch, say)

    outcome = run_search(make_settings(space="exercise3", out=tmp_path, trials=10), run_trial=runner)
    assert outcome.interrupted
    trials = pd.read_csv(tmp_path / "exercise3-optuna-cost-tpe" / "trials.csv")
    assert len(trials) == 6 and set(trials["state"][:5]) <= {"complete", "pruned"}
    assert trials["fail_reason"].tolist()[-1] == "interrupted by the user (Ctrl-C)"


def _study_as_it_runs(seed: int) -> list[list[TrialRecord]]:
    """The records a study holds at each save: two workers' trials running and finishing out of order;
    failed trials with nothing measured; a hyperparameter and a history column first seen late."""
    rng = random.Random(seed)
    finished: dict[int, TrialRecord] = {}
    running: list[int] = []
    looks: list[list[TrialRecord]] = []
    for number in range(60):
        running.append(number)
        while len(running) > 2 or (number == 59 and running):
            done = running.pop(rng.randrange(len(running)))
            kind = rng.choice(["complete", "complete", "pruned", "failed"])
            params = {"filters": rng.choice([16, 32, 64]), "learning_rate": rng.choice([1e-3, 3e-3])}
            if done > 30 and rng.random() < 0.5:
                params["dropout"] = 0.25  # first seen after the tables hold 30 trials
            history = [] if kind == "failed" else _history(rng.uniform(0.5, 3), rng.randint(1, 5), 0.5)
            if done > 40 and history:
                history[-1]["lr_scale"] = 0.5  # a log that appears late, in some epochs only
            result = {} if kind == "failed" else {"epochs_run": len(history), "val_accuracy": rng.random()}
            finished[done] = TrialRecord(
                done,
                kind,
                params=params,
                config=params,
                seed=done,
                value=result.get("val_accuracy"),
                result=result,
                history=history,
                fail_reason="OOM\nat step 3" if kind == "failed" else None,
                started=f"2026-12-04T10:{done:02d}:00+00:00",
                finished=f"2026-12-04T10:{done:02d}:30+00:00",
            )
            if rng.random() < 0.6 and number < 59:
                break
        # A running trial as a database shows it before its parameters are written: none of them.
        live = [
            TrialRecord(n, "running", params={"filters": 32} if n % 3 else {}, history=_history(1, 1, 0.5))
            for n in running
        ]
        looks.append(sorted([*finished.values(), *live], key=lambda r: r.trial))
    return looks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tables_kept_between_saves_equal_the_tables_built_from_every_record(seed: int) -> None:
    from tuner.reports import history_frame, trials_frame
    from tuner.runs.tables import TableCache

    cache = TableCache(["filters", "learning_rate"])
    for records in _study_as_it_runs(seed):
        trials, trials_csv, history, history_csv = cache.tables(records)
        expected_trials = trials_frame(records, ["filters", "learning_rate"])
        expected_history = history_frame(records)
        pd.testing.assert_frame_equal(trials, expected_trials)
        pd.testing.assert_frame_equal(history, expected_history)
        assert trials_csv == expected_trials.to_csv(index=False)
        assert history_csv == expected_history.to_csv(index=False)
    assert len(cache.keys) == 60  # every trial settled at the end
    # Built again from every record only when a column appeared (dropout; lr_scale, while only trials
    # finished after a running one had it) or changed its type: a few of the 60 saves.
    assert 1 <= cache.rebuilds <= 10
