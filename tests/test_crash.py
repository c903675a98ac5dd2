"""`kill -9` in the middle of a search, then the same command again: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

HELPER = Path(__file__).resolve().parent / "helpers" / "slow_search.py"


def wait_mid_trial(out: Path, process: subprocess.Popen, after: str | None = None) -> str:
    """Wait until the helper reports epoch 1 of a trial other than `after` (a trial lasts 3+ epochs)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            seen = (out / "progress").read_text()
        except FileNotFoundError:
            seen = ""
        if seen and seen != after and seen.endswith(" 1"):
            return seen
        time.sleep(0.01)
    raise AssertionError("the search never started a trial")


def start(out: Path, trials: int, env: dict[str, str], engine: str = "optuna") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HELPER), str(out), str(trials), engine],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
@pytest.mark.parametrize(
    ("engine", "folder_name"),
    [("optuna", "exercise3-optuna-cost-tpe"), ("keras-tuner", "exercise3-keras-tuner-random")],
)
def test_kill_9_then_resume_completes_exactly(tmp_path: Path, tiny_data: Path, engine: str, folder_name: str) -> None:
    env = {**os.environ, "CNN_TUNE_DATA": str(tiny_data), "CNN_TUNE_OFFLINE": "1"}
    trials, rng = 8, random.Random(7)
    folder = tmp_path / folder_name
    seen = None
    for _ in range(3):
        process = start(tmp_path, trials, env, engine)
        seen = wait_mid_trial(tmp_path, process, seen)
        time.sleep(rng.uniform(0.0, 0.15))  # somewhere in the trial's first two epochs
        process.send_signal(signal.SIGKILL)
        process.wait()
    process = start(tmp_path, trials, env, engine)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    frame = pd.read_csv(folder / "trials.csv")
    complete = frame[frame["state"] == "complete"]
    assert len(complete) == trials
    assert frame["trial"].is_unique
    interrupted = frame[frame["fail_reason"].fillna("").str.startswith("interrupted")]
    assert len(interrupted) == 3  # every kill landed mid-trial
    assert (frame["state"] == "running").sum() == 0
    # Every interrupted trial was run again with the same configuration and seed.
    for _, row in interrupted.iterrows():
        again = complete[(complete["config"] == row["config"]) & (complete["seed"] == row["seed"])]
        assert len(again) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("sig", "code", "reason"),
    [
        (signal.SIGTERM, 143, "interrupted by SIGTERM"),
        (signal.SIGINT, 130, "interrupted by the user (Ctrl-C)"),
    ],
)
def test_sigterm_and_sigint_mark_the_trial_and_write_tables(
    tmp_path: Path, tiny_data: Path, sig: int, code: int, reason: str
) -> None:
    env = {**os.environ, "CNN_TUNE_DATA": str(tiny_data), "CNN_TUNE_OFFLINE": "1"}
    process = start(tmp_path, 50, env)
    trials = tmp_path / "exercise3-optuna-cost-tpe" / "trials.csv"
    wait_mid_trial(tmp_path, process)
    process.send_signal(sig)
    process.communicate(timeout=60)
    assert process.returncode == code
    frame = pd.read_csv(trials)
    assert frame["fail_reason"].tolist()[-1] == reason
    assert frame["state"].tolist()[-1] == "failed"
    assert (frame["state"] == "complete").sum() == len(frame) - 1


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_ten_kill_9_rounds_at_random_moments(tmp_path: Path, tiny_data: Path) -> None:
    """kill -9 at a random moment (start-up, mid-trial, between trials, while saving), ten times, resuming
    each time: no complete trial is lost or doubled and the study ends with exactly the asked count."""
    env = {**os.environ, "CNN_TUNE_DATA": str(tiny_data), "CNN_TUNE_OFFLINE": "1"}
    trials, rng = 150, random.Random(11)
    table = tmp_path / "exercise3-optuna-cost-tpe" / "trials.csv"
    kept: set[tuple[str, int]] = set()
    kills = 0
    for _ in range(10):
        process = start(tmp_path, trials, env)
        time.sleep(rng.uniform(1.5, 6.0))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        if table.exists():
            frame = pd.read_csv(table)
            done = frame[frame["state"] == "complete"]
            now = set(zip(done["config"], done["seed"], strict=True))
            assert kept <= now, "a complete trial was lost"
            kept = now
    assert kills == 10, "the study finished before every kill landed"
    process = start(tmp_path, trials, env)
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    frame = pd.read_csv(table)
    complete = frame[frame["state"] == "complete"]
    assert len(complete) == trials and frame["trial"].is_unique
    assert kept <= set(zip(complete["config"], complete["seed"], strict=True))
    assert not complete.duplicated(["config", "seed"]).any(), "a trial ran twice to completion"
    assert (frame["state"] == "running").sum() == 0
    for _, row in frame[frame["state"] == "failed"].iterrows():
        assert row["fail_reason"].startswith("interrupted")
    print(  # for reports/reliability.md (pytest -s)
        f"\n10 kill -9 rounds: {kills} landed before the study was done; {len(frame)} trials recorded, "
        f"{len(complete)} complete (asked {trials}), {(frame['state'] == 'failed').sum()} interrupted and re-run, "
        f"{len(kept)} complete before the last kill, none lost or doubled"
    )
