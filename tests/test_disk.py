"""The run folder's disk fills up or turns read-only mid-search: one clear error, finished trials kept,
and the same command resumes the study once the disk is usable again.

A real filesystem each time: a small tmpfs mounted for the test (needs root; skipped otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import make_settings, scripted_runner

from tuner.errors import CnnTuneError
from tuner.search import run_search


def mount(point: Path, options: str) -> bool:
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
    return done.returncode == 0


def remount(point: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(point)], check=True, capture_output=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "disk"
    point.mkdir()
    if os.geteuid() != 0 or not mount(point, "size=20m"):
        pytest.skip("mounting a small tmpfs needs root (or CAP_SYS_ADMIN)")
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def search(out: Path, trials: int, runner: Any) -> Any:
    return run_search(make_settings(space="exercise3", out=out, trials=trials, pruner="none"), run_trial=runner)


def finished(out: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / "exercise3-optuna-cost-tpe" / "trials.csv")
    return frame[frame["state"] == "complete"]


def kept(out: Path) -> pd.DataFrame:
    """The complete trials the study holds (its journal is the record; the tables follow it every few
    seconds, and a full disk may have stopped their last rewrite)."""
    from tuner.engines.study_reader import read_study
    from tuner.reports import trials_frame

    folder = out / "exercise3-optuna-cost-tpe"
    _record, records = read_study(f"journal:{folder / 'study.journal'}", folder.name)
    frame = trials_frame(records, [])
    return frame[frame["state"] == "complete"]


def test_disk_full_mid_search_then_resume(disk: Path, tiny_data: Path) -> None:
    remount(disk, "size=400k")  # room for run.json, the journal and a few trials' tables
    with pytest.raises(CnnTuneError, match=r"cannot write \(No space left on device\); finished trials are kept"):
        search(disk, 200, scripted_runner())
    before = kept(disk)
    assert len(before) >= 1
    remount(disk, "size=20m")
    runner = scripted_runner()
    search(disk, len(before) + 3, runner)
    after = finished(disk)
    assert len(after) == len(before) + 3 and after["trial"].is_unique

    def keys(frame: pd.DataFrame) -> set[tuple[str, int]]:
        return {
            (json.dumps(json.loads(c), sort_keys=True), int(s))
            for c, s in zip(frame["config"], frame["seed"], strict=True)
        }

    assert keys(before) <= keys(after)


def test_read_only_mid_search_then_resume(disk: Path, tiny_data: Path) -> None:
    inner = scripted_runner()

    def runner(config: dict, seed: int, on_epoch: Any, say: Any) -> Any:
        if len(inner.calls) == 3:  # the fourth trial starts: the disk turns read-only under it
            remount(disk, "ro")
        return inner(config, seed, on_epoch, say)

    with pytest.raises(CnnTuneError, match=r"cannot write \(Read-only file system\)"):
        search(disk, 6, runner)
    assert len(kept(disk)) == 3
    remount(disk, "rw")
    search(disk, 6, scripted_runner())
    after = pd.read_csv(disk / "exercise3-optuna-cost-tpe" / "trials.csv")
    assert (after["state"] == "complete").sum() == 6 and after["trial"].is_unique
    failed = after[after["state"] == "failed"]  # the trial running when the disk turned read-only
    assert len(failed) == 1 and failed["fail_reason"].iloc[0].startswith("interrupted")
