"""`cnn-tune watch RUN`: a live, read-only view of a run from another process, ending when the run ends."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import invoke, one_line_error

HELPERS = Path(__file__).resolve().parent / "helpers"
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def start_search(out: Path, trials: int, engine: str = "optuna") -> subprocess.Popen[str]:
    search = subprocess.Popen(
        [sys.executable, str(HELPERS / "slow_search.py"), str(out), str(trials), engine],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out / "progress").exists():  # a trial is training
        assert search.poll() is None and time.monotonic() < deadline, search.communicate()
        time.sleep(0.05)
    return search


def watch(*args: str, width: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    if width is not None:
        env |= {"COLUMNS": str(width), "FORCE_COLOR": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tuner", "watch", *args], capture_output=True, text=True, env=env, timeout=120
    )


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("engine", ["optuna", "keras-tuner"])
def test_watch_follows_a_running_search_to_its_end(engine: str, tmp_path: Path, tiny_data: Path) -> None:
    search = start_search(tmp_path, 6, engine)
    folder = tmp_path / ("exercise3-optuna-cost-tpe" if engine == "optuna" else "exercise3-keras-tuner-random")
    seen = watch(str(folder), "--every", "0.2")
    assert search.wait(timeout=60) == 0
    assert seen.returncode == 0, seen.stderr
    lines = seen.stdout.splitlines()
    if engine == "optuna":  # the study says which trial runs and at which epoch
        assert any(re.search(r": \d of 6 trials finished, 0 failed, 1 running", line) for line in lines), seen.stdout
        assert any(re.match(r"  trial \d: epoch \d+ \| filters=", line) for line in lines), seen.stdout
    else:  # keras-tuner's tables, rewritten after every trial
        assert any(re.search(r": [1-5] of 6 trials finished, 0 failed, in progress", line) for line in lines), (
            seen.stdout
        )
    assert any(": 6 of 6 trials finished, 0 failed, ended" in line for line in lines), seen.stdout
    assert "| rank | trial |" in seen.stdout  # the final leaderboard, whole, as Markdown in a pipe


def test_watch_writes_nothing_and_fits_the_terminal(tmp_path: Path, tiny_data: Path) -> None:
    search = start_search(tmp_path, 3)
    assert search.wait(timeout=60) == 0
    folder = tmp_path / "exercise3-optuna-cost-tpe"
    before = folder_state(tmp_path)
    seen = watch(str(folder), "--every", "0.2", width=80)
    assert seen.returncode == 0, seen.stderr
    assert folder_state(tmp_path) == before  # no lock file, no rewrite: read-only
    text = ANSI.sub("", seen.stdout)
    assert "3 of 3 trials finished, 0 failed, ended" in text and "leaderboard so far" in text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_watch_bad_input(tmp_path: Path) -> None:
    one_line_error(invoke("watch", str(tmp_path / "nothing")), r"^error: run '.*nothing' does not exist")
    one_line_error(invoke("watch", str(tmp_path), "--every", "0"), r"^error: --every: must be a positive number")


def test_watch_a_shared_study_from_another_host(tmp_path: Path, tiny_data: Path) -> None:
    from conftest import scripted_runner
    from test_engine import search

    url = f"sqlite:///{tmp_path / 'study.db'}"
    search(tmp_path / "host1", scripted_runner(), trials=3, storage=url, name="shared")
    seen = watch("--storage", url, "--name", "shared", "--every", "0.2")
    assert seen.returncode == 0, seen.stderr
    assert "shared: 3 of 3 trials finished, 0 failed, ended" in seen.stdout
    assert "| rank | trial |" in seen.stdout
    one_line_error(invoke("watch", "--storage", url), r"^error: --storage: give the run's name too, with --name RUN")


def test_watch_keeps_watching_a_run_that_has_not_ended(tmp_path: Path, tiny_data: Path) -> None:
    import json

    search = start_search(tmp_path, 2)
    assert search.wait(timeout=60) == 0
    run_file = tmp_path / "exercise3-optuna-cost-tpe" / "run.json"
    record = json.loads(run_file.read_text())
    assert record["ended"]  # the session said when it ended
    run_file.write_text(json.dumps({**record, "ended": None}))  # as between two trials of a live run
    command = [sys.executable, "-m", "tuner", "watch", str(run_file.parent), "--every", "0.2"]
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert follower.poll() is None  # nothing runs, but the run has not said it ended
        run_file.write_text(json.dumps(record))
        assert follower.wait(timeout=30) == 0
    finally:
        follower.kill()


@pytest.mark.parametrize("shared", [False, True])
def test_a_watcher_reads_the_study_again_only_for_what_changed(tmp_path: Path, tiny_data: Path, shared: bool) -> None:
    """One reader per study across looks (a journal is replayed once, at the first look); each look after
    that brings in the trials added since, and sees what a fresh look sees."""
    import json

    from conftest import scripted_runner
    from test_engine import search

    from tuner.runs.watch import Watcher, snapshot

    url = f"sqlite:///{tmp_path / 'study.db'}" if shared else None
    outcome = search(tmp_path, scripted_runner(), trials=3, storage=url, name="w")
    run_file = outcome.store.path / "run.json"
    live = {**json.loads(run_file.read_text()), "ended": None}  # a live run: looks read the study
    run_file.write_text(json.dumps(live))
    watcher = Watcher(outcome.store.path) if url is None else Watcher(None, url, "w")
    first = watcher.look()
    reader = next(iter(watcher.readers.values()))
    assert first.summary.complete + first.summary.pruned == 3
    search(tmp_path, scripted_runner(), trials=5, storage=url, name="w")  # two more trials, by a second search
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "ended": None}))
    again = watcher.look()
    assert next(iter(watcher.readers.values())) is reader and reader.index.seen == 5
    fresh = snapshot(outcome.store.path) if url is None else snapshot(None, url, "w")
    assert again.summary.complete + again.summary.pruned == 5
    assert again.board["trial"].tolist() == fresh.board["trial"].tolist()
