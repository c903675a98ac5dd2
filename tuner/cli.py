"""The `cnn-tune` command: thin typer commands over the library."""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from tuner import __version__
from tuner.errors import CnnTuneError, raise_terminated

app = typer.Typer(
    name="cnn-tune",
    help="Hyperparameter search for small Keras convolutional image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spaces_app = typer.Typer(help="Built-in and custom search spaces.", invoke_without_command=True, no_args_is_help=False)
app.add_typer(spaces_app, name="spaces")

console = Console()
errors = Console(stderr=True)
_state = {"debug": False}


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a CnnTuneError into one red line on stderr and exit code 2 (`--debug` shows the traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CnnTuneError as exc:
            if _state["debug"]:
                raise
            errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        console.print(f"cnn-tune {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
) -> None:
    _state["debug"] = debug


# -- spaces --------------------------------------------------------------------------------------


@spaces_app.callback()
def spaces_default(ctx: typer.Context) -> None:
    """List the built-in spaces when no sub-command is given."""
    if ctx.invoked_subcommand is None:
        spaces_list()


@spaces_app.command("list")
@friendly
def spaces_list() -> None:
    """Built-in spaces: name and description."""
    from rich.table import Table

    from tuner.space import builtin_spaces, load_space

    table = Table("space", "dataset", "objective", "description", header_style="bold")
    for name in builtin_spaces():
        space = load_space(name)
        table.add_row(name, space.dataset, space.objective.name, space.description)
    console.print(table)


@spaces_app.command("show")
@friendly
def spaces_show(space: str = typer.Argument(..., help="A built-in space name or a YAML path.")) -> None:
    """The resolved space: parameters, constraints, stop rule, objective."""
    import yaml

    from tuner.space import load_space

    text = yaml.safe_dump(load_space(space).to_dict(), sort_keys=False, width=1000, allow_unicode=True)
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@spaces_app.command("validate")
@friendly
def spaces_validate(path: str = typer.Argument(..., help="The YAML file to check.")) -> None:
    """Exit 0 when the space is valid, 2 with the reason when it is not."""
    from tuner.space import load_space

    space = load_space(path)
    count = len(space.searched)
    console.print(
        f"{path}: valid ({count} searched parameter{'s' if count != 1 else ''}, objective {space.objective.name})",
        soft_wrap=True,
    )


# -- datasets ------------------------------------------------------------------------------------


@app.command()
@friendly
def datasets() -> None:
    """Known datasets and where each was found."""
    from rich.table import Table

    from tuner.data import available_datasets

    table = Table("dataset", "status", "where", header_style="bold")
    for row in available_datasets():
        table.add_row(row["dataset"], row["status"], row["where"])
    console.print(table)
    console.print(
        "--dataset PATH also takes a folder of IDX files, a folder of class sub-folders of images, "
        "a label,pixel1..N CSV, or an .npz with x_train, y_train, x_test, y_test.",
        soft_wrap=True,
    )


# -- run -----------------------------------------------------------------------------------------


@app.command()
@friendly
def run(
    space: str = typer.Option(..., "--space", "-s", help="Built-in space name or YAML path."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name or path (default: the space's)."),
    engine: str = typer.Option("optuna", "--engine", help="Search engine: optuna or keras-tuner."),
    algorithm: str | None = typer.Option(
        None,
        "--algorithm",
        help="optuna: tpe, random, grid, qmc, cmaes; keras-tuner: random, bayesian, hyperband, grid.",
    ),
    pruner: str | None = typer.Option(
        None,
        "--pruner",
        help="optuna: exact, median, hyperband, exact+median, exact+hyperband, none; keras-tuner: none, exact.",
    ),
    trials: int | None = typer.Option(
        None, "--trials", help="Finished trials the study should hold (default: the space's)."
    ),
    timeout: float | None = typer.Option(None, "--timeout", help="Stop starting trials after this many seconds."),
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
    gpus: str = typer.Option("all", "--gpus", help="all (every GPU TensorFlow sees), none, or numbers such as 0,1."),
    trials_per_gpu: int = typer.Option(1, "--trials-per-gpu", help="Trials side by side on each GPU."),
    mixed_precision: bool = typer.Option(False, "--mixed-precision", help="Train in mixed_float16 (GPU)."),
    xla: bool = typer.Option(False, "--xla", help="Compile the training step with XLA."),
    stop_when_found: bool = typer.Option(
        False, "--stop-when-found", help="End the search once a trial meets the space's stop rule."
    ),
    pins: list[str] = typer.Option(
        [], "--set", help="Pin a parameter to one of its values, NAME=VALUE (repeatable), e.g. --set filters=32."
    ),
    no_start: bool = typer.Option(
        False, "--no-start", help="Skip the space's start configurations (search.start): the sampler picks every trial."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display and no leaderboard."),
) -> None:
    """Search a space; running the same command again resumes the run."""
    from tuner.progress import QuietProgress, RichProgress
    from tuner.runs import Run
    from tuner.search import SearchSettings, run_search

    settings = SearchSettings(
        space=space,
        dataset=dataset,
        engine=engine,
        algorithm=algorithm,
        pruner=pruner,
        trials=trials,
        timeout=timeout,
        max_epochs=max_epochs,
        train_limit=train_limit,
        seed=seed,
        out=out,
        name=name,
        storage=storage,
        workers=workers,
        gpus=gpus,
        trials_per_gpu=trials_per_gpu,
        mixed_precision=mixed_precision,
        xla=xla,
        stop_when_found=stop_when_found,
        pins=pins,
        no_start=no_start,
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
        _print_board(result, top=10)
    console.print(f"run folder: {escape(str(outcome.store.path))}")


_WIDE_ONLY = (
    "state",
    "seconds_to_threshold",
    "best_stop_metric",
    "epochs_run",
    "param_count",
    "seconds_per_epoch",
    "train_val_gap",
    "best_val_epoch",
)


def _print_board(result: Any, top: int) -> None:
    from tuner.reports import rich_table

    summary = result.summary()
    board = result.leaderboard(top)
    # The terminal gets the columns that decide the ranking; `cnn-tune report` has them all.
    board = board.drop(columns=[c for c in _WIDE_ONLY if c in board.columns])
    console.print(
        rich_table(
            board, title=f"{summary.name}: top {len(board)} of {summary.complete + summary.pruned} finished trials"
        )
    )
    console.print(f"{summary.complete} complete, {summary.pruned} pruned, {summary.failed} failed trials.")
    console.print(summary.verdict(), style="bold", markup=False, highlight=False)


# -- report --------------------------------------------------------------------------------------

TABLES = ("leaderboard", "trials", "history", "summary")


def _resolve_run(run_ref: str | None, storage: str | None = None, name: str | None = None) -> Any:
    from tuner.runs import load_run, load_study_run

    if storage is not None:
        if not (name or run_ref):
            raise CnnTuneError("--storage: give the run's name too, with --name RUN")
        return load_study_run(storage, str(name or run_ref))
    if run_ref is None:
        raise CnnTuneError("report: give a run folder, or --storage URL --name RUN")
    path = Path(run_ref)
    if not path.exists() and (Path("reports") / run_ref).exists():
        path = Path("reports") / run_ref
    return load_run(path)


@app.command()
@friendly
def report(
    run_ref: str | None = typer.Argument(None, metavar="RUN", help="Run folder (or a run name under ./reports)."),
    storage: str | None = typer.Option(
        None, "--storage", help="Read the run from its shared study in this database (with --name)."
    ),
    name: str | None = typer.Option(None, "--name", help="The run's name in --storage."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, md, json or html."),
    table: str = typer.Option("leaderboard", "--table", "-t", help="leaderboard, trials, history or summary."),
    top: int | None = typer.Option(None, "--top", help="Only the best K rows of the leaderboard."),
    trial: int | None = typer.Option(None, "--trial", help="Show this trial's model summary (no training)."),
    plots: Path | None = typer.Option(None, "--plots", help="Also write the run's plots (PNG) into this folder."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal."),
) -> None:
    """Tables of a run: leaderboard (default), trials, history or summary."""
    from tuner.reports import render, rich_table

    _check_format(fmt)
    if table not in TABLES:
        raise CnnTuneError(f"--table: unknown table {table!r}; choose from: {', '.join(TABLES)}")
    if top is not None and top < 1:
        raise CnnTuneError(f"--top: must be at least 1, got {top}")
    result = _resolve_run(run_ref, storage, name)
    if plots is not None:
        from tuner.reports.plots import save_plots

        for path in save_plots(result, plots):
            console.print(f"wrote {escape(str(path))}")
    if trial is not None:
        frame = result.model_summary(trial)
        title = f"trial {trial} model"
        if fmt == "table" and output is None:
            console.print(rich_table(frame, title=title))
        else:
            _write(render(frame, "md" if fmt == "table" else fmt, title), output)
        return
    if table == "summary":
        import pandas as pd

        frame = pd.DataFrame(result.summary().as_rows(), columns=["field", "value"])
    elif table == "leaderboard":
        frame = result.leaderboard(top)
    else:
        frame = getattr(result, table)
    title = f"{result.record.get('name', result.path.name)} {table}"
    if fmt == "table" and output is None:
        console.print(rich_table(frame, title=title))
        return
    if fmt == "html":
        _write(_html_with_plots(result, frame, title), output)
        return
    _write(render(frame, "md" if fmt == "table" else fmt, title), output)


def _html_with_plots(result: Any, frame: Any, title: str) -> str:
    """The HTML page embeds the run's plots, drawn into a temporary folder."""
    import tempfile

    from tuner.reports.plots import save_plots
    from tuner.reports.render import to_html

    with tempfile.TemporaryDirectory() as folder:
        images = [(p.stem, p.read_bytes()) for p in save_plots(result, Path(folder))]
    return to_html(frame, title, images)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CnnTuneError(f"--output {output}: cannot write: {exc}") from None
    console.print(f"wrote {escape(str(output))}")


def _check_format(fmt: str) -> None:
    from tuner.reports import FORMATS

    if fmt not in FORMATS:
        raise CnnTuneError(f"--format: unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")


@app.command()
@friendly
def compare(
    runs: list[str] = typer.Argument(..., metavar="RUN...", help="Two or more run folders (or names under ./reports)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, md, json or html."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal."),
) -> None:
    """Runs side by side: engine, counts, trials and epochs until the stop rule was first met, best trial, time."""
    from tuner.reports import compare_frame, render, rich_table, side_by_side

    _check_format(fmt)
    frame = compare_frame([_resolve_run(r) for r in runs])
    if fmt in ("csv", "json"):
        _write(render(frame, fmt, "compare"), output)
        return
    shown = side_by_side(frame)
    if fmt == "table" and output is None:
        console.print(rich_table(shown, title="runs compared"))
        return
    _write(render(shown, "md" if fmt == "table" else fmt, "Runs compared"), output)


@app.command()
@friendly
def reproduce(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run folder (or a run name under ./reports)."),
    trial: str = typer.Option("best", "--trial", help="'best' or a trial number."),
) -> None:
    """Retrain a trial from the run's record alone; exit 0 when it gets the recorded numbers, 1 when not."""
    from tuner.reports import rich_table

    if trial != "best" and not trial.isdigit():
        raise CnnTuneError(f"--trial: give 'best' or a trial number, got {trial!r}")
    result = _resolve_run(run_ref)
    from tuner.reproduce import TOLERANCE
    from tuner.reproduce import reproduce as retrain

    outcome = retrain(result, "best" if trial == "best" else int(trial))
    for warning in outcome.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    console.print(rich_table(outcome.epochs, title=f"trial {outcome.trial}, seed {outcome.seed}: per epoch"))
    console.print(rich_table(outcome.final, title="final"))
    if outcome.model_path is not None:
        console.print(f"model saved: {escape(str(outcome.model_path))}")
    if outcome.matches:
        console.print(f"[green]reproduced[/]: every figure within {TOLERANCE:g} of the record")
        return
    for difference in outcome.differences:
        errors.print(f"[red]differs:[/] {escape(difference)}", highlight=False)
    raise typer.Exit(1)


@app.command()
@friendly
def inspect(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run folder (or a run name under ./reports)."),
    trial: str = typer.Option("best", "--trial", help="'best' or a trial number."),
    images: str = typer.Option("0,23,28", "--images", help="Test images, by index (the course's: three shoes)."),
    filter_index: int = typer.Option(1, "--filter", help="Which filter of each layer to show."),
    output: Path | None = typer.Option(None, "--output", "-o", help="PNG to write (default: in the run folder)."),
) -> None:
    """The course's convolution visualisation: each conv and pool layer's output, per image, for one filter."""
    from tuner.inspect import feature_maps, save_feature_maps

    try:
        chosen = [int(part) for part in images.split(",") if part.strip()]
    except ValueError:
        raise CnnTuneError(f"--images: give test image numbers such as 0,23,28, got {images!r}") from None
    if not chosen:
        raise CnnTuneError("--images: give at least one test image number, such as 0,23,28")
    if trial != "best" and not trial.isdigit():
        raise CnnTuneError(f"--trial: give 'best' or a trial number, got {trial!r}")
    result = _resolve_run(run_ref)
    number = int(result.leaderboard().iloc[0]["trial"]) if trial == "best" else int(trial)
    result.config(number)  # an unknown trial is bad input, before any training
    maps = feature_maps(result, number, chosen, filter_index)
    path = save_feature_maps(maps, output or result.path / f"inspect-trial{number}-filter{filter_index}.png")
    shown = ", ".join(f"#{i} {label}" for i, label in zip(chosen, maps.labels, strict=True))
    console.print(f"wrote {path} ({shown})", markup=False, highlight=False)


def entry() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    entry()
