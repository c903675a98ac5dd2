"""`cnn-tune report`, `compare`, `reproduce` and `inspect`: reading a run back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from tuner.cli.common import (
    COMPILE_CACHE_HELP,
    NO_COMPILE_CACHE_HELP,
    NO_DATA_CACHE_HELP,
    Format,
    Table,
    console,
    errors,
    friendly,
    no_data_cache,
    parse_trial,
    resolve_run,
    show_table,
    use_compile_cache,
    write,
)
from tuner.errors import CnnTuneError

__all__ = ["compare", "inspect", "report", "reproduce", "watch"]


@friendly
def report(
    run_ref: str | None = typer.Argument(None, metavar="RUN", help="Run folder (or a run name under ./reports)."),
    storage: str | None = typer.Option(
        None, "--storage", help="Read the run from its shared study in this database (with --name)."
    ),
    name: str | None = typer.Option(None, "--name", help="The run's name in --storage."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="How to print the table."),
    table: Table = typer.Option(Table.leaderboard, "--table", "-t", help="Which table."),
    top: int | None = typer.Option(None, "--top", help="Only the best K rows of the leaderboard."),
    trial: int | None = typer.Option(None, "--trial", help="Show this trial's model summary (no training)."),
    plots: Path | None = typer.Option(None, "--plots", help="Also write the run's plots (PNG) into this folder."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal."),
) -> None:
    """Tables of a run: leaderboard (default), trials, history or summary."""
    from tuner.reports import leaderboard_priority, render

    if top is not None and top < 1:
        raise CnnTuneError(f"must be at least 1, got {top}", field="top")
    result = resolve_run(run_ref, storage, name)
    if plots is not None:
        from tuner.reports.plots import save_plots

        for path in save_plots(result, plots):
            console.print(f"wrote {escape(str(path))}")
    shown = "md" if fmt is Format.table else fmt.value
    if trial is not None:
        frame = result.model_summary(trial)
        title = f"trial {trial} model"
        if fmt is Format.table and output is None:
            show_table(frame, title)
        else:
            write(render(frame, shown, title), output)
        return
    if table is Table.summary:
        import pandas as pd

        frame = pd.DataFrame(result.summary().as_rows(), columns=["field", "value"])
    elif table is Table.leaderboard:
        frame = result.leaderboard(top)
    else:
        frame = getattr(result, table.value)
    title = f"{result.record.get('name', result.path.name)} {table.value}"
    if fmt is Format.table and output is None:
        show_table(frame, title, leaderboard_priority(result.searched) if table is Table.leaderboard else ())
        return
    if fmt is Format.html:
        write(_html_with_plots(result, frame, title), output)
        return
    write(render(frame, shown, title), output)


def _html_with_plots(result: Any, frame: Any, title: str) -> str:
    """The HTML page embeds the run's plots, drawn into a temporary folder."""
    import tempfile

    from tuner.reports.plots import save_plots
    from tuner.reports.render import to_html

    with tempfile.TemporaryDirectory() as folder:
        images = [(p.stem, p.read_bytes()) for p in save_plots(result, Path(folder))]
    return to_html(frame, title, images)


@friendly
def compare(
    runs: list[str] = typer.Argument(..., metavar="RUN...", help="Two or more run folders (or names under ./reports)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="How to print the table."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal."),
) -> None:
    """Runs side by side: engine, counts, trials and epochs until the stop rule was first met, best trial, time."""
    from tuner.reports import compare_frame, render, side_by_side

    frame = compare_frame([resolve_run(r) for r in runs])
    if fmt in (Format.csv, Format.json):
        write(render(frame, fmt.value, "compare"), output)
        return
    shown = side_by_side(frame)
    if fmt is Format.table and output is None:
        show_table(shown, "runs compared")
        return
    write(render(shown, "md" if fmt is Format.table else fmt.value, "Runs compared"), output)


@friendly
def reproduce(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run folder (or a run name under ./reports)."),
    trial: str = typer.Option("best", "--trial", help="'best' or a trial number."),
    full: bool = typer.Option(
        False, "--full", help="Train a pruned trial on to its full budget (the stop rule still ends it)."
    ),
    compile_cache: Path | None = typer.Option(None, "--compile-cache", help=COMPILE_CACHE_HELP),
    no_compile_cache: bool = typer.Option(False, "--no-compile-cache", help=NO_COMPILE_CACHE_HELP),
    skip_cache: bool = typer.Option(False, "--no-data-cache", help=NO_DATA_CACHE_HELP),
) -> None:
    """Retrain a trial from the run's record alone and save its model; exit 0 when it gets the recorded
    numbers, 1 when not."""
    from tuner.runs.reproduce import TOLERANCE
    from tuner.runs.reproduce import reproduce as retrain

    no_data_cache(skip_cache)
    use_compile_cache(compile_cache, no_compile_cache)
    number = parse_trial(trial)
    outcome = retrain(resolve_run(run_ref), number, full=full)
    for warning in outcome.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    show_table(outcome.epochs, f"trial {outcome.trial}, seed {outcome.seed}: per epoch", see_all="| cat")
    show_table(outcome.final, "final", see_all="| cat")
    if outcome.model_path is not None:
        console.print(f"model saved: {escape(str(outcome.model_path))}")
    if outcome.full is not None:
        console.print(f"trained in full: {escape(outcome.full)}", highlight=False)
    if outcome.matches:
        held = "every epoch the record holds" if outcome.full is not None else "every figure"
        console.print(f"[green]reproduced[/]: {held} within {TOLERANCE:g} of the record")
        return
    for difference in outcome.differences:
        errors.print(f"[red]differs:[/] {escape(difference)}", highlight=False)
    raise typer.Exit(1)


@friendly
def inspect(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run folder (or a run name under ./reports)."),
    trial: str = typer.Option("best", "--trial", help="'best' or a trial number."),
    images: str = typer.Option("0,23,28", "--images", help="Test images, by index (the course's: three shoes)."),
    filter_index: int = typer.Option(1, "--filter", help="Which filter of each layer to show."),
    output: Path | None = typer.Option(None, "--output", "-o", help="PNG to write (default: in the run folder)."),
    skip_cache: bool = typer.Option(False, "--no-data-cache", help=NO_DATA_CACHE_HELP),
) -> None:
    """The course's convolution visualisation: each conv and pool layer's output, per image, for one filter."""
    from tuner.runs.feature_maps import feature_maps, save_feature_maps

    try:
        chosen = [int(part) for part in images.split(",") if part.strip()]
    except ValueError:
        raise CnnTuneError(f"give test image numbers such as 0,23,28, got {images!r}", field="images") from None
    if not chosen:
        raise CnnTuneError("give at least one test image number, such as 0,23,28", field="images")
    no_data_cache(skip_cache)
    result = resolve_run(run_ref)
    number = result.trial_number(parse_trial(trial))  # an unknown trial is bad input, before any training
    maps = feature_maps(result, number, chosen, filter_index)
    path = save_feature_maps(maps, output or result.path / f"inspect-trial{number}-filter{filter_index}.png")
    shown = ", ".join(f"#{i} {label}" for i, label in zip(chosen, maps.labels, strict=True))
    console.print(f"wrote {path} ({shown})", markup=False, highlight=False)


@friendly
def watch(
    run_ref: str | None = typer.Argument(None, metavar="RUN", help="Run folder (or a run name under ./reports)."),
    storage: str | None = typer.Option(None, "--storage", help="Watch the run's shared study in this database."),
    name: str | None = typer.Option(None, "--name", help="The run's name in --storage."),
    every: float = typer.Option(3.0, "--every", help="Seconds between looks."),
    top: int = typer.Option(10, "--top", help="Rows of the leaderboard shown."),
) -> None:
    """Follow a run from another terminal or host: the trials running and their epoch, the leaderboard;
    read-only; ends when the run ends (or on Ctrl-C)."""
    import time

    from tuner.reports import leaderboard_priority
    from tuner.runs.watch import Watcher

    if every <= 0:
        raise CnnTuneError(f"must be a positive number of seconds, got {every:g}", field="every")
    if top < 1:
        raise CnnTuneError(f"must be at least 1, got {top}", field="top")
    watcher = Watcher(run_ref, storage, name)
    look = watcher.look()
    try:
        if console.is_terminal:
            from rich.live import Live

            with Live(_watch_view(look, top), console=console, auto_refresh=False) as live:
                while not look.ended:
                    time.sleep(every)
                    look = watcher.look()
                    live.update(_watch_view(look, top), refresh=True)
        else:  # a pipe or a log: the lines again whenever they change, the leaderboard at the end
            said = ""
            while True:
                text = _watch_lines(look)
                if text != said:
                    print(text, flush=True)
                    said = text
                if look.ended:
                    break
                time.sleep(every)
                look = watcher.look()
            show_table(look.board.head(top), f"{look.summary.name}: leaderboard", leaderboard_priority(look.searched))
    except KeyboardInterrupt:
        return
    console.print(look.summary.verdict(), style="bold", markup=False, highlight=False)


def _watch_lines(look: Any) -> str:
    from tuner.reports.render import format_value

    lines = [look.headline()]
    for row in look.running.to_dict("records"):
        params = " ".join(f"{k}={format_value(k, row[k])}" for k in look.searched if k in row)
        lines.append(f"  trial {row['trial']}: epoch {format_value('epoch', row['epoch'])} | {params}")
    return "\n".join(lines)


def _watch_view(look: Any, top: int) -> Any:
    """What the terminal shows: the headline, the running trials, the leaderboard so far, fitted."""
    from rich.console import Group
    from rich.text import Text

    from tuner.reports import fit_columns, leaderboard_priority, rich_table

    parts: list[Any] = [Text(look.headline(), style="bold")]
    for frame, title, first in (
        (look.running, "running", ("trial", "epoch", *look.searched)),
        (look.board.head(top), "leaderboard so far", leaderboard_priority(look.searched)),
    ):
        if len(frame):
            kept, _ = fit_columns(frame, console.width, first)
            parts.append(rich_table(frame[kept], title=title))
    return Group(*parts)
