"""A run tells the truth about its trials: no pruning that saves nothing, missed trials valued past the
budget, a pruned best that says so, no configuration proposed twice, and an estimate of the time left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import CONSTANT_RATE, grid_space, make_settings, scripted_runner

from tuner.records import TrialRecord
from tuner.reports.tables import leaderboard, summarize, trials_frame
from tuner.search import Observer, run_search
from tuner.search.eta import format_left, study_time_left, time_left
from tuner.space import load_space

PARALLEL = Path(__file__).resolve().parent / "helpers" / "parallel_search.py"


def trials_of(outcome) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return pd.read_csv(outcome.store.path / "trials.csv")


# -- no pruning where it cannot help --------------------------------------------------------------


def test_a_one_trial_run_is_never_pruned(tmp_path: Path, tiny_data: Path) -> None:
    # 32 filters: at the threshold at epoch 12; the ladder's 5-epoch budget stopped it at epoch 5
    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=1, no_start=True, pins=["filters=32", *CONSTANT_RATE]),
        run_trial=scripted_runner(speed=lambda c: 0.5),
    )
    trials = trials_of(outcome)
    assert trials["state"].tolist() == ["complete"]
    assert bool(trials["reached_threshold"].iloc[0]) and trials["epochs_to_threshold"].iloc[0] == 12


def test_no_trial_is_pruned_at_its_last_epoch(tmp_path: Path, tiny_data: Path) -> None:
    # --max-epochs 3 and curves that cannot meet the rule by epoch 3: the curve bound's first look is
    # the last epoch, where stopping saves nothing; each trial ends complete, having missed the rule
    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=3, max_epochs=3, no_start=True, pins=CONSTANT_RATE),
        run_trial=scripted_runner(speed=lambda c: 0.5),
    )
    trials = trials_of(outcome)
    assert trials["state"].tolist() == ["complete"] * 3
    assert trials["epochs_run"].tolist() == [3, 3, 3] and not trials["reached_threshold"].any()
    from tuner.runs.reader import Run

    verdict = Run(outcome.store).summary().verdict()
    assert "3 missed it within their full budget and 0 were stopped early by the pruner" in verdict


def test_the_last_trial_is_not_pruned_while_no_trial_met_the_rule(tmp_path: Path, tiny_data: Path) -> None:
    # Every curve meets the rule at epoch 19: the ladder stops the first three by its 5-epoch budget,
    # and the fourth, the last of --trials, trains on and answers the search
    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=4, no_start=True, pins=CONSTANT_RATE),
        run_trial=scripted_runner(speed=lambda c: 0.3),
    )
    trials = trials_of(outcome)
    assert trials["state"].tolist() == ["pruned", "pruned", "pruned", "complete"]
    assert (trials["epochs_run"].iloc[:3] <= 5).all()
    assert trials["epochs_to_threshold"].iloc[3] == 19


def test_once_a_trial_met_the_rule_the_last_trial_is_pruned_as_any(tmp_path: Path, tiny_data: Path) -> None:
    # The first trial meets the rule at epoch 3; the slower ones cannot beat it, the last one included
    runner = scripted_runner(speed=lambda c: 2.0 if len(runner.calls) == 1 else 0.5)
    outcome = run_search(
        make_settings(space="exercise3", out=tmp_path, trials=3, no_start=True, pins=CONSTANT_RATE),
        run_trial=runner,
    )
    trials = trials_of(outcome)
    assert trials["state"].tolist() == ["complete", "pruned", "pruned"]
    assert trials["epochs_to_threshold"].iloc[0] == 3


# -- what a missed trial is worth ----------------------------------------------------------------


def test_a_missed_trial_is_worth_just_past_the_largest_epoch_count(tmp_path: Path, tiny_data: Path) -> None:
    settings = dict(space="exercise3", out=tmp_path, max_epochs=3, no_start=True, pins=CONSTANT_RATE)
    outcome = run_search(make_settings(trials=2, **settings), run_trial=scripted_runner(speed=lambda c: 0.5))
    values = trials_of(outcome)["value"]
    # one epoch past --max-epochs 3, plus the shortfall (under 1): below the dashboard's old 1000
    assert ((values > 4) & (values < 5)).all(), values.tolist()
    assert json.loads((outcome.store.path / "run.json").read_text())["identity"]["values"] == "past-budget"


def test_a_study_started_with_the_old_values_resumes_with_them(
    tmp_path: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tuner.search.session as session

    settings = dict(space="exercise3", out=tmp_path, max_epochs=3, no_start=True, pins=CONSTANT_RATE)
    runner = scripted_runner(speed=lambda c: 0.5)
    with monkeypatch.context() as old:  # a run started by a cnn-tune before the values past the budget
        old.setattr(session, "legacy_values", lambda store: True)
        outcome = run_search(make_settings(trials=1, **settings), run_trial=runner)
    run_file = outcome.store.path / "run.json"
    outcome = run_search(make_settings(trials=2, **settings), run_trial=runner)
    values = trials_of(outcome)["value"].tolist()
    assert len(values) == 2 and min(values) > 1000  # both told as the study's first trial was
    assert "values" not in json.loads(run_file.read_text())["identity"]


# -- a pruned best says so ----------------------------------------------------------------------


def _record(number: int, state: str, epochs: int, best: float, reason: str | None = None) -> TrialRecord:
    result = {"epochs_run": epochs, "reached_threshold": False, "best_stop_metric": best, "val_accuracy": best}
    return TrialRecord(number, state, {"filters": 32}, {"filters": 32}, 1, 22.0, result, [], reason)


def test_the_verdict_tells_a_pruned_best_and_how_to_train_it_in_full() -> None:
    space = load_space("exercise3")
    records = [
        _record(0, "complete", 20, 0.9950),
        _record(1, "pruned", 4, 0.9970, "curve bound at epoch 4: reaches the threshold at epoch 25.3 at best"),
    ]
    trials = trials_frame(records, ["filters"])
    run = {"name": "r", "space": space.to_dict()}
    verdict = summarize(trials, leaderboard(trials, space.objective, space.stop), run, "reports/r").verdict()
    assert "of the 2 finished trials, 1 missed it within their full budget and 1 were stopped early" in verdict
    assert "Trial 1 was stopped early by the pruner at epoch 4 (curve bound at epoch 4" in verdict
    assert verdict.endswith("cnn-tune reproduce reports/r --trial 1 --full")


# -- never the same configuration twice ------------------------------------------------------------


def _configs(frame: pd.DataFrame) -> list[str]:
    return frame[frame["state"].isin(["complete", "pruned"])]["config"].tolist()


@pytest.mark.parametrize(
    ("engine", "algorithm"), [("optuna", "random"), ("optuna", "cost-tpe"), ("keras-tuner", "random")]
)
def test_a_resumed_one_worker_study_never_repeats_a_configuration(
    tmp_path: Path, tiny_data: Path, engine: str, algorithm: str
) -> None:
    runner = scripted_runner()
    for trials in (3, 6, 9, 12):  # started, then resumed three times
        settings = make_settings(
            space="exercise3", out=tmp_path, trials=trials, engine=engine, algorithm=algorithm, pruner="none"
        )
        outcome = run_search(settings, run_trial=runner)
    configs = _configs(trials_of(outcome))
    assert len(configs) == 12 and len(set(configs)) == 12


def test_a_resumed_two_worker_study_never_repeats_a_configuration(tmp_path: Path, tiny_data: Path) -> None:
    env = {**os.environ, "CNN_TUNE_DATA": str(tiny_data), "CNN_TUNE_OFFLINE": "1", "ALGORITHM": "random"}
    for trials in (4, 8, 12, 16):
        done = subprocess.run(
            [sys.executable, str(PARALLEL), str(tmp_path), str(trials), "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
    configs = _configs(pd.read_csv(tmp_path / "exercise3-optuna-random" / "trials.csv"))
    assert len(configs) == 16 and len(set(configs)) == 16


def test_an_exhausted_space_says_so_and_stops(tmp_path: Path, tiny_data: Path) -> None:
    said: list[str] = []

    class Lines(Observer):
        def message(self, text: str) -> None:
            said.append(text)

    pins = ["filters=32", "kernel_size=3"]  # the grid space's two parameters pinned: one configuration
    outcome = run_search(
        make_settings(space=str(grid_space(tmp_path)), out=tmp_path, trials=3, pins=pins, pruner="none"),
        Lines(),
        run_trial=scripted_runner(),
    )
    assert len(trials_of(outcome)) == 1
    assert any("the space looks exhausted (1 distinct configurations tried)" in line for line in said), said


# -- the time left ------------------------------------------------------------------------------


def test_time_left_follows_the_recent_trials_and_the_deadline() -> None:
    assert time_left([], 5) is None
    assert time_left([10.0, 10.0], 3) == 30.0
    assert time_left([100.0] * 8 + [10.0] * 8, 2) == 20.0  # the last 8 trials, not the first
    assert time_left([10.0], 4, running=[4.0]) == 46.0  # the running trial's 6 s left, then four more
    assert time_left([10.0], 4, workers=2) == 20.0
    assert time_left([10.0], 100, deadline_in=30.0) == 35.0  # until the deadline, then half a trial
    assert time_left([10.0], 100, running=[8.0], deadline_in=-1.0) == 2.0
    assert format_left(None) == "" == format_left(0.0)
    assert format_left(42) == "about 45 s left" and format_left(600) == "about 10 min left"


def test_study_time_left_reads_the_trials_timestamps() -> None:
    rows = [
        ("complete", "2026-12-02T10:00:00+00:00", "2026-12-02T10:00:20+00:00"),
        ("pruned", "2026-12-02T10:00:20+00:00", "2026-12-02T10:00:30+00:00"),
        ("failed", "2026-12-02T10:00:30+00:00", "2026-12-02T10:00:31+00:00"),
        ("running", "2026-12-02T10:00:31+00:00", None),
    ]
    now = pd.Timestamp("2026-12-02T10:00:36+00:00").timestamp()
    # 15 s a trial: the running one has 10 s left, then 2 of the target of 5 still to start
    assert study_time_left(rows, 5, now=now) == pytest.approx(40.0)


def test_the_search_tells_its_observer_the_time_left(tmp_path: Path, tiny_data: Path) -> None:
    told: list[float | None] = []

    class Left(Observer):
        def time_left(self, seconds: float | None) -> None:
            told.append(seconds)

    run_search(
        make_settings(space="exercise3", out=tmp_path, trials=4, pruner="none"), Left(), run_trial=scripted_runner()
    )
    assert len(told) == 4 and told[-1] == 0.0 and all(s is not None and s >= 0 for s in told)


# -- a pruned trial reproduces and inspects ---------------------------------------------------------


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A real two-trial run whose stop rule (loss <= 1e-9) nothing meets: the ladder stops trial 0 at its
    3-epoch budget; trial 1, the last, trains all 8 epochs."""
    from test_cli import invoke

    out = tmp_path_factory.mktemp("pruned")
    text = (Path(__file__).resolve().parent.parent / "search_spaces" / "exercise3.yaml").read_text()
    text = text[: text.index("  start:")].replace("metric: accuracy", "metric: loss").replace("0.998", "1.0e-9")
    text = text.replace("epochs: 20 ", "epochs: 8 ").replace("epochs <= 20", "epochs <= 8")
    space = out / "never.yaml"
    space.write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_TUNE_DATA", str(data_root))
        result = invoke("run", "--space", str(space), "--trials", "2", "--out", str(out), "--name", "r", "-q")
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(out / "r" / "trials.csv")
    assert trials["state"].tolist() == ["pruned", "complete"] and trials["epochs_run"].tolist() == [3, 8]
    return out / "r"


def test_reproduce_saves_a_pruned_trials_model(pruned_run: Path, tiny_data: Path) -> None:
    from test_cli import invoke

    result = invoke("reproduce", str(pruned_run), "--trial", "0")
    assert result.exit_code == 0, result.output
    assert "reproduced: every figure within" in result.stdout
    assert (pruned_run / "trials" / "0" / "model.keras").is_file()


def test_reproduce_full_trains_a_pruned_trial_on_to_its_budget(pruned_run: Path, tiny_data: Path) -> None:
    from test_cli import invoke

    result = invoke("reproduce", str(pruned_run), "--trial", "0", "--full")
    assert result.exit_code == 0, result.output
    assert "trained in full: missed the stop rule in all 8 epochs" in result.stdout
    assert "reproduced: every epoch the record holds within" in result.stdout


def test_inspect_a_pruned_trial_retrains_it_and_a_damaged_model_is_one_line(
    pruned_run: Path, tiny_data: Path, tmp_path: Path
) -> None:
    from test_cli import invoke, one_line_error

    model = pruned_run / "trials" / "0" / "model.keras"
    model.unlink(missing_ok=True)
    picture = tmp_path / "maps.png"
    result = invoke("inspect", str(pruned_run), "--trial", "0", "--images", "0,1", "--output", str(picture))
    assert result.exit_code == 0, result.output
    assert picture.is_file() and model.is_file()
    model.write_bytes(b"not a zip file")
    one_line_error(
        invoke("inspect", str(pruned_run), "--trial", "0", "--images", "0,1", "--output", str(picture)),
        r"model\.keras: cannot load the saved model .*delete it and run the command again",
    )


# -- the command line accepts what the library does -------------------------------------------------


def test_every_cli_choice_comes_from_the_registries() -> None:
    from tuner.choices import ALGORITHMS, ENGINE_NAMES, PRUNER_NAMES
    from tuner.cli.common import Algorithm, EngineName
    from tuner.engines import ENGINES, get_engine
    from tuner.pruners import PRUNERS

    assert set(ENGINES) == set(ENGINE_NAMES) == {e.value for e in EngineName}
    for name in ENGINE_NAMES:
        assert get_engine(name).algorithms == ALGORITHMS[name]
    assert {a.value for a in Algorithm} == {a for algos in ALGORITHMS.values() for a in algos}
    assert tuple(PRUNERS) == PRUNER_NAMES


def test_any_pruner_chain_the_registry_takes_runs_from_the_cli(tmp_path: Path, tiny_data: Path) -> None:
    from test_cli import invoke, one_line_error

    result = invoke(
        "run", "--space", "exercise3", "--pruner", "exact+ladder", "--trials", "1", "--max-epochs", "1",
        "--out", str(tmp_path), "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "exercise3-optuna-cost-tpe" / "run.json").read_text())
    assert record["pruner"] == "exact+ladder"
    one_line_error(invoke("run", "--space", "exercise3", "--pruner", "exact+nope"), r"--pruner: unknown pruner")


def test_run_help_fits_80_columns() -> None:
    from typer.testing import CliRunner

    from tuner.cli import app

    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert " ".join(result.stdout.split()).count("exact, curve, ladder, median, hyperband, none") == 1


def test_an_exhausted_space_says_so_with_keras_tuner_too(tmp_path: Path, tiny_data: Path) -> None:
    said: list[str] = []

    class Lines(Observer):
        def message(self, text: str) -> None:
            said.append(text)

    pins = ["filters=32", "kernel_size=3"]
    outcome = run_search(
        make_settings(
            space=str(grid_space(tmp_path)), out=tmp_path, trials=3, pins=pins, engine="keras-tuner", algorithm="random"
        ),
        Lines(),
        run_trial=scripted_runner(),
    )
    assert len(trials_of(outcome)) == 1
    assert any("keras-tuner's oracle finds no configuration it has not tried" in line for line in said), said
