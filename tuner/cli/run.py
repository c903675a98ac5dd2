"""`cnn-tune run`: parse the options into typed settings, run the search, show the leaderboard."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape

from tuner.choices import ALGORITHMS, PRUNER_NAMES
from tuner.cli.common import (
    COMPILE_CACHE_HELP,
    NO_COMPILE_CACHE_HELP,
    NO_DATA_CACHE_HELP,
    Algorithm,
    EngineName,
    console,
    errors,
    friendly,
    no_data_cache,
    show_table,
    use_compile_cache,
)
from tuner.errors import CnnTuneError, raise_terminated

__all__ = ["parse_gpus", "parse_pins", "run"]


def parse_pins(pins: list[str]) -> dict[str, Any]:
    """`--set NAME=VALUE` options as {name: value}, each value read as a YAML scalar."""
    values: dict[str, Any] = {}
    for text in pins:
        name, sep, raw = text.partition("=")
        try:
            value = yaml.safe_load(raw) if sep else None
        except yaml.YAMLError:
            value = None
        if not sep or not name.strip() or not isinstance(value, (bool, int, float, str)):
            raise CnnTuneError("write NAME=VALUE with one value, such as --set filters=32", field=f"set {text}")
        values[name.strip()] = value
    return values


def parse_gpus(option: str) -> tuple[str, ...] | None:
    """`--gpus all|none|0,1`: None for every visible GPU, () for none, else the GPU numbers."""
    if option == "all":
        return None
    if option == "none":
        return ()
    chosen = tuple(part.strip() for part in option.split(",") if part.strip())
    if not chosen or any(not part.isdigit() for part in chosen):
        raise CnnTuneError(f"give all, none or GPU numbers such as 0,1; got {option!r}", field="gpus")
    return chosen


_ALGORITHM_HELP = "; ".join(
    f"{engine}: {', '.join(algos)} (default {next(iter(algos))})" for engine, algos in ALGORITHMS.items()
)
_PRUNER_HELP = (
    f"Stop hopeless trials early: {', '.join(PRUNER_NAMES)}, or a chain such as exact+median "
    "(default: exact+curve+ladder for threshold objectives, else median)."
)


@friendly
def run(
    space: str = typer.Option(..., "--space", "-s", help="Built-in space name or YAML path."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name or path (default: the space's)."),
    engine: EngineName = typer.Option("optuna", "--engine", help="Search engine."),
    algorithm: Algorithm | None = typer.Option(
        None, "--algorithm", help=_ALGORITHM_HELP, metavar="NAME", show_choices=False
    ),
    pruner: str | None = typer.Option(None, "--pruner", help=_PRUNER_HELP, metavar="NAME[+NAME]"),
    trials: int | None = typer.Option(
        None, "--trials", help="Finished trials the study should hold (default: the space's)."
    ),
    timeout: float | None = typer.Option(None, "--timeout", help="Stop starting trials after this many seconds."),
    epoch_budget: int | None = typer.Option(
        None,
        "--epoch-budget",
        help="Stop starting trials once the finished trials trained this many epochs in all "
        "(a budget of training that a shared machine's speed does not change).",
    ),
    max_epochs: int | None = typer.Option(None, "--max-epochs", help="Cap every trial's epochs."),
    train_limit: int | None = typer.Option(None, "--train-limit", help="Use a stratified subset of N training images."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler and of every trial's training."),
    out: Path = typer.Option(Path("reports"), "--out", help="Parent folder of run folders."),
    name: str | None = typer.Option(None, "--name", help="Run folder name (default: SPACE-ENGINE-ALGORITHM)."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL (default: a journal file in the run folder)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Trial processes sharing the study (default: one per GPU, else 1; cores are split)."
    ),
    backend: str | None = typer.Option(
        None, "--backend", help="Keras backend: tensorflow, jax or torch (default: KERAS_BACKEND, else tensorflow)."
    ),
    gpus: str = typer.Option("all", "--gpus", help="all (every GPU the backend sees), none, or numbers such as 0,1."),
    trials_per_gpu: int = typer.Option(1, "--trials-per-gpu", help="Trials side by side on each GPU."),
    mixed_precision: bool = typer.Option(False, "--mixed-precision", help="Train in mixed_float16 (GPU)."),
    xla: bool = typer.Option(False, "--xla", help="Compile the training step with XLA."),
    steps_per_execution: int | None = typer.Option(
        None,
        "--steps-per-execution",
        help="Training steps per compiled call: same numbers, less dispatch (default: 32; 1 on PyTorch).",
    ),
    keras_loop: bool = typer.Option(
        False,
        "--keras-loop",
        help="JAX: train with Keras's fit loop, one dispatch per step, instead of each epoch as one compiled program.",
    ),
    compile_cache: Path | None = typer.Option(None, "--compile-cache", help=COMPILE_CACHE_HELP),
    no_compile_cache: bool = typer.Option(False, "--no-compile-cache", help=NO_COMPILE_CACHE_HELP),
    deterministic: bool = typer.Option(
        True,
        "--deterministic/--no-deterministic",
        help="GPU kernels that give the same numbers every run, so `reproduce` matches (on an H200: later "
        "epochs 1.12x as long; CPU training is deterministic either way).",
    ),
    tensorboard: Path | None = typer.Option(
        None, "--tensorboard", help="Write TensorBoard logs here: each trial's epochs and an HParams table."
    ),
    patience: int | None = typer.Option(
        None,
        "--patience",
        help="On a validation objective, end a trial once its best epoch is N epochs old; the trial keeps "
        "that epoch's weights either way (default: 3; 0: train every epoch).",
    ),
    stop_when_found: bool = typer.Option(
        False, "--stop-when-found", help="End the search once a trial meets the space's stop rule."
    ),
    pins: list[str] = typer.Option(
        [], "--set", help="Pin a parameter to one of its values, NAME=VALUE (repeatable), e.g. --set filters=32."
    ),
    no_start: bool = typer.Option(
        False, "--no-start", help="Skip the space's start configurations (search.start): the sampler picks every trial."
    ),
    skip_cache: bool = typer.Option(False, "--no-data-cache", help=NO_DATA_CACHE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display and no leaderboard."),
) -> None:
    """Search a space; running the same command again resumes the run."""
    from tuner.cli.progress import QuietProgress, RichProgress
    from tuner.runs.reader import Run
    from tuner.search import Budget, SearchSettings, TrainingOptions, run_search
    from tuner.training.backend import default_backend

    no_data_cache(skip_cache)
    use_compile_cache(compile_cache, no_compile_cache)
    settings = SearchSettings(
        space=space,
        dataset=dataset,
        engine=engine.value,
        algorithm=algorithm.value if algorithm else None,
        pruner=pruner,  # checked by the search before anything loads
        budget=Budget(trials=trials, timeout=timeout, epochs=epoch_budget, stop_when_found=stop_when_found),
        max_epochs=max_epochs,
        train_limit=train_limit,
        seed=seed,
        out=out,
        name=name,
        storage=storage,
        workers=workers,
        gpus=parse_gpus(gpus),
        trials_per_gpu=trials_per_gpu,
        training=TrainingOptions(
            xla=xla,
            mixed_precision=mixed_precision,
            steps_per_execution=steps_per_execution,
            backend=backend or default_backend(),
            deterministic=deterministic,
            patience=patience,
            fused=not keras_loop,
        ),
        pins=parse_pins(pins),
        no_start=no_start,
        tensorboard=tensorboard,
        command=["cnn-tune", *sys.argv[1:]],
    )
    observer = QuietProgress(console) if quiet else RichProgress(console)
    signal.signal(signal.SIGTERM, raise_terminated)
    outcome = run_search(settings, observer)
    if outcome.interrupted:
        errors.print(
            f"interrupted: finished trials are saved in {escape(str(outcome.store.path))}; "
            "run the same command to resume"
        )
        raise typer.Exit(outcome.exit_code)
    result = Run(outcome.store)
    if not quiet:
        print_board(result, top=10)
    console.print(f"run folder: {escape(str(outcome.store.path))}")


def print_board(result: Any, top: int) -> None:
    from tuner.reports import leaderboard_priority

    summary = result.summary()
    board = result.leaderboard(top)
    title = f"{summary.name}: top {len(board)} of {summary.complete + summary.pruned} finished trials"
    show_table(board, title, leaderboard_priority(result.searched), see_all=f"cnn-tune report {result.path}")
    console.print(f"{summary.complete} complete, {summary.pruned} pruned, {summary.failed} failed trials.")
    console.print(summary.verdict(), style="bold", markup=False, highlight=False)
