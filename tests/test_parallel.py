"""--workers: several processes share one optuna study; the study-wide count holds exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_settings, scripted_runner

from tuner.errors import CnnTuneError
from tuner.search import run_search
from tuner.search.loop import FOUND_ELSEWHERE
from tuner.training.devices import threads_per_worker

HELPER = Path(__file__).resolve().parent / "helpers" / "parallel_search.py"


def run_helper(out: Path, trials: int, workers: int, data: Path, *extra: str) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CNN_TUNE_DATA": str(data), "CNN_TUNE_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(HELPER), str(out), str(trials), str(workers), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_three_workers_share_the_study_exactly(tmp_path: Path, tiny_data: Path) -> None:
    done = run_helper(tmp_path, 9, 3, tiny_data)
    assert done.returncode == 0, done.stderr
    trials = pd.read_csv(tmp_path / "exercise3-optuna-cost-tpe" / "trials.csv")
    assert (trials["state"] == "complete").sum() == 9 and len(trials) == 9  # none doubled, none beyond the count
    assert trials["trial"].is_unique and trials["seed"].is_unique
    assert trials["config"].is_unique  # each worker's sampler proposes its own configurations
    pids = set((tmp_path / "pids").read_text().split())
    assert len(pids) == 3  # the trials really ran in three processes
    assert "[worker 2] trial" in done.stdout and "[worker 3] trial" in done.stdout


def test_stop_when_found_ends_every_worker(tmp_path: Path, tiny_data: Path) -> None:
    done = run_helper(tmp_path, 50, 2, tiny_data, "found")
    assert done.returncode == 0, done.stderr
    trials = pd.read_csv(tmp_path / "exercise3-optuna-cost-tpe" / "trials.csv")
    reached = trials[trials["reached_threshold"] == True]  # noqa: E712
    assert len(reached) >= 1 and len(trials) < 50
    first_done = pd.to_datetime(reached["finished"]).min()
    # Nothing started after the first trial met the stop rule, give or take the clock's second.
    assert (pd.to_datetime(trials["started"]) <= first_done + pd.Timedelta(seconds=1)).all()
    # the other worker's running trial was stopped at its next epoch, and says why
    abandoned = trials[trials["fail_reason"] == FOUND_ELSEWHERE]
    assert len(abandoned) >= 1 and set(abandoned["state"]) == {"pruned"}


def test_stop_when_found_in_one_process(tmp_path: Path, tiny_data: Path) -> None:
    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=20, stop_when_found=True, pruner="none"),
        run_trial=scripted_runner(),
    )
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert len(trials) == 1 and bool(trials["reached_threshold"].iloc[0])


def test_threads_are_split_between_workers() -> None:
    cores = os.cpu_count() or 1
    assert threads_per_worker(1) == cores
    assert threads_per_worker(cores) == 1
    assert threads_per_worker(cores * 4) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, r"^workers: must be between 1 and 64, got 0"),
        ({"workers": 2, "engine": "keras-tuner"}, r"^workers: parallel trials share an optuna study"),
        ({"trials_per_gpu": 0}, r"^trials_per_gpu: must be at least 1, got 0"),
    ],
)
def test_bad_worker_options(tmp_path: Path, tiny_data: Path, options: dict, message: str) -> None:
    with pytest.raises(CnnTuneError, match=message):
        run_search(make_settings(space="exercise3", out=tmp_path, **options), run_trial=scripted_runner())


def test_a_trial_just_asked_for_is_not_taken_for_abandoned() -> None:
    from datetime import datetime, timedelta

    from tuner.engines.liveness import UNCLAIMED_GRACE_SECONDS, this_worker, worker_is_dead

    now = datetime.now()
    assert not worker_is_dead(None, now)  # another worker is between ask() and recording itself
    assert worker_is_dead(None, now - timedelta(seconds=UNCLAIMED_GRACE_SECONDS + 1))
    assert worker_is_dead(None)  # nothing known at all
    assert not worker_is_dead(this_worker())
    assert worker_is_dead({**this_worker(), "pid": 2**22 + 7})  # no such process here


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_end_when_their_parent_is_killed(tmp_path: Path, tiny_data: Path) -> None:
    import signal
    import time

    env = {**os.environ, "CNN_TUNE_DATA": str(tiny_data), "CNN_TUNE_OFFLINE": "1"}
    parent = subprocess.Popen(
        [sys.executable, str(HELPER), str(tmp_path), "12", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pids_file, workers = tmp_path / "pids", set()
    deadline = time.monotonic() + 120
    while not workers and time.monotonic() < deadline:  # until the spawned worker runs a trial
        time.sleep(0.2)
        pids = {int(p) for p in pids_file.read_text().split()} if pids_file.exists() else set()
        workers = {p for p in pids - {parent.pid} if _alive(p)}
    assert workers, "the spawned worker never started a trial"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), "a worker outlived its killed parent by 10 s"
    done = run_helper(tmp_path, 12, 2, tiny_data)  # the same command resumes
    assert done.returncode == 0, done.stderr
    trials = pd.read_csv(tmp_path / "exercise3-optuna-cost-tpe" / "trials.csv")
    assert (trials["state"] == "complete").sum() == 12
