from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import SPACES, exercise3_text, make_settings
from typer.testing import CliRunner

from tuner.cli import app

runner = CliRunner()


def invoke(*args: str) -> object:
    return runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def one_line_error(result: object, pattern: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    import re

    assert re.search(pattern, lines[0]), lines[0]


def test_help_version_and_spaces() -> None:
    assert invoke("--help").exit_code == 0
    version = invoke("--version")
    assert version.exit_code == 0 and version.stdout.startswith("cnn-tune ")
    listing = invoke("spaces")
    assert listing.exit_code == 0 and "exercise3" in listing.stdout and "course-cnn" in listing.stdout
    shown = invoke("spaces", "show", "exercise3")
    assert shown.exit_code == 0
    assert yaml.safe_load(shown.stdout)["constraints"] == ["conv_layers == 1", "pool_layers == 1", "epochs <= 20"]


def test_validate_accepts_and_refuses(tmp_path: Path) -> None:
    assert invoke("spaces", "validate", str(SPACES / "exercise3.yaml")).exit_code == 0
    bad = tmp_path / "two-convs.yaml"
    bad.write_text((SPACES / "exercise3.yaml").read_text().replace("conv_layers: 1 ", "conv_layers: {choice: [1, 2]} "))
    one_line_error(
        invoke("spaces", "validate", str(bad)), r"two-convs\.yaml: constraints: rule `conv_layers == 1` is broken"
    )


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (
            ("run", "--space", "exercise4"),
            r"space 'exercise4' is neither a built-in space nor a file; did you mean 'exercise3'",
        ),
        (
            ("run", "--space", "exercise3", "--engine", "sklearn"),
            r"unknown engine 'sklearn'; choose from: keras-tuner, optuna",
        ),
        (
            ("run", "--space", "exercise3", "--algorithm", "bees"),
            r"--algorithm: unknown algorithm 'bees'; choose from: bayesian",
        ),
        (("run", "--space", "exercise3", "--trials", "0"), r"--trials: must be at least 1, got 0"),
        (("run", "--space", "exercise3", "--dataset", "/nonexistent/data"), r"dataset '/nonexistent/data' is neither"),
        (("report", "/nonexistent/run"), r"run '/nonexistent/run' does not exist"),
        (("spaces", "show", "nope.yaml"), r"space 'nope\.yaml' is neither"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_data: Path, args: tuple[str, ...], pattern: str) -> None:
    one_line_error(invoke(*args), pattern)


def test_not_a_run_folder_and_yaml_error(tmp_path: Path) -> None:
    one_line_error(invoke("report", str(tmp_path)), r"is not a cnn-tune run folder \(no run\.json in it\)")
    broken = tmp_path / "broken.yaml"
    broken.write_text("dataset: mnist\nparams: [\n")
    one_line_error(invoke("spaces", "validate", str(broken)), r"broken\.yaml: YAML syntax error at line")


def test_missing_data_lists_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNN_TUNE_DATA", str(tmp_path))
    one_line_error(
        invoke("run", "--space", "exercise3", "--out", str(tmp_path)),
        r"dataset 'mnist' not found; tried: .*Keras download",
    )


def test_run_trains_for_real_and_report_reads_it(tmp_path: Path, tiny_data: Path) -> None:
    """One short real training through the CLI: the threshold stop fires and prints the message."""
    space = tmp_path / "quick.yaml"
    text = exercise3_text()
    space.write_text(
        text.replace("threshold: 0.998", "threshold: 0.2")
        .replace(
            'message: "Reached 99.8% accuracy so cancelling training!"',
            'message: "Reached 20% accuracy so cancelling training!"',
        )
        .replace("batch_size: {choice: [32, 64, 128]}", "batch_size: 32")
    )
    result = invoke("run", "--space", str(space), "--trials", "2", "--max-epochs", "3", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "Reached 20% accuracy so cancelling training!" in result.stdout
    folder = tmp_path / "exercise3-optuna-cost-tpe"
    trials = pd.read_csv(folder / "trials.csv")
    # the first start configuration meets the rule; the second meets it too, or is stopped for not beating it
    assert trials["state"].iloc[0] == "complete"
    second = trials.iloc[1]
    assert (second["state"] == "complete" and second["reached_threshold"]) or (
        second["state"] == "pruned" and "trial 0" in second["fail_reason"]
    ), second.to_dict()
    assert trials["conv_layers"].tolist() == [1, 1] and trials["pool_layers"].tolist() == [1, 1]
    assert trials["reached_threshold"].iloc[0]
    assert trials["test_accuracy"].notna().iloc[0]
    run = json.loads((folder / "run.json").read_text())
    assert (
        run["dataset"]["fingerprint"]
        and run["versions"]["tensorflow-cpu" if "tensorflow-cpu" in run["versions"] else "keras"]
    )
    for fmt in ("csv", "md", "json", "html"):
        output = tmp_path / f"board.{fmt}"
        assert invoke("report", str(folder), "--format", fmt, "--output", str(output)).exit_code == 0
        assert output.read_text().strip()
    history = invoke("report", str(folder), "--table", "history", "--format", "csv")
    assert history.exit_code == 0
    assert history.stdout.splitlines()[0].startswith(
        "trial,epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds"
    )
    assert invoke("report", str(folder), "--table", "summary").exit_code == 0


@pytest.mark.skipif(
    shutil.which("cnn-tune") is None and not (Path(sys.executable).parent / "cnn-tune").exists(),
    reason="console script not installed",
)
def test_installed_console_script_answers() -> None:
    script = shutil.which("cnn-tune") or str(Path(sys.executable).parent / "cnn-tune")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "run" in done.stdout
    module = subprocess.run([sys.executable, "-m", "tuner", "--version"], capture_output=True, text=True, timeout=30)
    assert module.returncode == 0 and module.stdout.startswith("cnn-tune")


def test_compare_command(tmp_path: Path, tiny_data: Path) -> None:
    from conftest import scripted_runner

    from tuner.search import run_search

    for name in ("a", "b"):  # a fast learner: the first start configuration meets the rule by its horizon
        run_search(
            make_settings(space="exercise3", out=tmp_path, trials=2, name=name),
            run_trial=scripted_runner(speed=lambda c: 2.0),
        )
    result = invoke("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "md")
    assert result.exit_code == 0, result.output
    assert "| figure | a | b |" in result.stdout and "| trials_to_first_reached | 1 | 1 |" in result.stdout
    assert (
        json.loads(invoke("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json").stdout)[1]["run"]
        == "b"
    )
    one_line_error(invoke("compare", str(tmp_path / "a"), str(tmp_path / "missing")), r"run '.*missing' does not exist")


def test_keras_tuner_engine_trains_for_real(tmp_path: Path, tiny_data: Path) -> None:
    """keras-tuner with the real trainer; CI installs no tensorboard, which keras-tuner's Keras Tuner needs."""
    result = invoke(
        "run",
        "--space",
        "exercise3",
        "--engine",
        "keras-tuner",
        "--algorithm",
        "random",
        "--trials",
        "1",
        "--max-epochs",
        "1",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(tmp_path / "exercise3-keras-tuner-random" / "trials.csv")
    assert trials["state"].tolist() == ["complete"] and trials["epochs_run"].tolist() == [1]
    assert (trials["conv_layers"].tolist(), trials["pool_layers"].tolist()) == ([1], [1])
