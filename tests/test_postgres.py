"""Distributed search on a real PostgreSQL server (Debian's `postgresql`, started by the tests).

Each "host" is a separate process with its own run folder, joining one study by --storage and --name.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import make_settings, scripted_runner
from helpers.postgres import PASSWORD, PostgresServer, available
from test_cli import invoke, one_line_error

from tuner.engines.optuna_engine import suggest
from tuner.search import run_search
from tuner.space import load_space

HOST = Path(__file__).resolve().parent / "helpers" / "host_search.py"

pytestmark = [
    pytest.mark.skipif(not available(), reason="PostgreSQL is not installed (apt-get install postgresql)"),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and signals"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    pytest.importorskip("psycopg", reason="the [postgres] extra is not installed")
    pg = PostgresServer().start()
    yield pg
    pg.stop()


@pytest.fixture
def database(server: PostgresServer, request: pytest.FixtureRequest) -> str:
    return server.create_database(request.node.name.replace("[", "_").replace("]", "").lower()[:60])


def host(out: Path, trials: int, url: str, name: str, env: dict[str, str]) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(HOST), str(out), str(trials), url, name],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def host_env(tiny_data: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CNN_TUNE_DATA": str(tiny_data), "CNN_TUNE_OFFLINE": "1", **extra}


def study_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def test_three_hosts_share_one_study(tmp_path: Path, tiny_data: Path, database: str) -> None:
    env = host_env(tiny_data, EPOCH_SLEEP="0.05")
    hosts = [host(tmp_path / f"host{i}", 9, database, "shared", env) for i in range(3)]
    for process in hosts:
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = study_trials(database, "shared")
    finished = [t for t in trials if t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL]
    assert len(finished) == 9  # --trials is study-wide
    workers = {t.user_attrs["worker"]["pid"] for t in finished}
    assert len(workers) >= 2, "the hosts did not share the work"
    # the same command on every host, yet each host's sampler draws its own proposals
    assert len({json.dumps(t.params, sort_keys=True) for t in finished}) >= 7
    for i in range(3):  # every host's own folder reads the whole study, without the password
        folder = tmp_path / f"host{i}" / "shared"
        frame = pd.read_csv(folder / "trials.csv")
        assert len(frame[frame["state"] == "complete"]) == 9
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".csv", ".md"):
                assert PASSWORD not in path.read_text(errors="replace"), path
        assert json.loads((folder / "run.json").read_text())["storage"].startswith("postgresql://cnn:***@")


def test_kill_9_of_one_of_three_hosts(tmp_path: Path, tiny_data: Path, database: str) -> None:
    env = host_env(tiny_data, EPOCH_SLEEP="0.2")
    hosts = [host(tmp_path / f"host{i}", 8, database, "killed", env) for i in range(3)]
    victim = hosts[1]
    progress = tmp_path / "host1" / "progress"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (progress.exists() and progress.read_text().count("\n") >= 2):
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for process in (hosts[0], hosts[2]):
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = study_trials(database, "killed")
    done = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(done) == 8
    dead = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(dead) == 1 and dead[0].user_attrs["fail_reason"].startswith("interrupted")
    assert dead[0].user_attrs["worker"]["pid"] == victim.pid
    # its slot ran again on a living host, with the same configuration and seed
    again = [t for t in done if t.params == dead[0].params and t.user_attrs["seed"] == dead[0].user_attrs["seed"]]
    assert len(again) == 1 and again[0].user_attrs["worker"]["pid"] != victim.pid
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]


def test_a_trial_whose_host_stopped_beating_is_failed_and_run_again(
    tmp_path: Path, tiny_data: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_TUNE_HEARTBEAT", "1")  # grace period: 6 s
    settings = make_settings(space="exercise3", out=tmp_path / "a", trials=2, storage=database, name="beats")
    run_search(settings, run_trial=scripted_runner())
    # A host elsewhere asks for a trial, beats once, and is never heard from again.
    study = optuna.load_study(study_name="beats", storage=optuna.storages.RDBStorage(database, heartbeat_interval=1))
    trial = study.ask()
    suggest(trial, load_space("exercise3"))
    trial.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "start": 1})
    trial.set_user_attr("seed", 4242)
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(7)
    runner = scripted_runner()
    settings = make_settings(space="exercise3", out=tmp_path / "b", trials=3, storage=database, name="beats")
    run_search(settings, run_trial=runner)
    frozen = study._storage.get_trial(trial._trial_id)
    assert frozen.state == optuna.trial.TrialState.FAIL
    trials = pd.read_csv(tmp_path / "b" / "beats" / "trials.csv")
    dead = trials[trials["trial"] == frozen.number].iloc[0]
    assert dead["state"] == "failed"
    assert dead["fail_reason"] == "interrupted: its worker on elsewhere stopped sending heartbeats"
    # the dead host's slot ran here, with its configuration and seed
    assert [(c["seed"], {k: c["config"][k] for k in frozen.params}) for c in runner.calls] == [(4242, frozen.params)]


def test_report_reads_the_study_from_the_database(tmp_path: Path, tiny_data: Path, database: str) -> None:
    run_search(
        make_settings(space="exercise3", out=tmp_path, trials=3, storage=database, name="reported"),
        run_trial=scripted_runner(),
    )
    result = invoke("report", "--storage", database, "--name", "reported", "--format", "csv", "--table", "trials")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.output))
    assert len(frame) == 3 and set(frame["state"]) <= {"complete", "pruned"} and PASSWORD not in result.output
    missing = invoke("report", "--storage", database, "--name", "nosuchrun")
    one_line_error(missing, r"--name nosuchrun: no study of that name in postgresql://cnn:\*\*\*@")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (lambda pg: pg.url(password="wrong"), r"cannot open the study storage: .*password authentication failed"),
        (lambda pg: pg.url("no_such_db"), r"cannot open the study storage: .*database \"no_such_db\" does not exist"),
    ],
    ids=["wrong password", "missing database"],
)
def test_bad_storage_urls(tmp_path: Path, tiny_data: Path, server: PostgresServer, url, message: str) -> None:  # type: ignore[no-untyped-def]
    text = url(server)
    result = invoke("run", "--space", "exercise3", "--storage", text, "--out", str(tmp_path), "-q")
    assert result.exit_code == 2
    one_line_error(result, message)
    assert "wrong" not in result.output and PASSWORD not in result.output
    assert not list(tmp_path.glob("*/run.json"))
