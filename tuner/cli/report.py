"""`cnn-tune report`, `compare`, `reproduce` and `inspect`: reading a run back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from tuner.cli.common import Format, Table, console, errors, friendly, parse_trial, resolve_run, write
from tuner.errors import CnnTuneError

__all__ = ["compare", "inspect", "report", "reproduce"]


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
    from tuner.reports import render, rich_table

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
            console.print(rich_table(frame, title=title))
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
        console.print(rich_table(frame, title=title))
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
    from tuner.reports import compare_frame, render, rich_table, side_by_side

    frame = compare_frame([resolve_run(r) for r in runs])
    if fmt in (Format.csv, Format.json):
        write(render(frame, fmt.value, "compare"), output)
        return
    shown = side_by_side(frame)
    if fmt is Format.table and output is None:
        console.print(rich_table(shown, title="runs compared"))
        return
    write(render(shown, "md" if fmt is Format.table else fmt.value, "Runs compared"), output)


@friendly
def reproduce(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run folder (or a run name under ./reports)."),
    trial: str = typer.Option("best", "--trial", help="'best' or a trial number."),
) -> None:
    """Retrain a trial from the run's record alone; exit 0 when it gets the recorded numbers, 1 when not."""
    from tuner.reports import rich_table
    from tuner.runs.reproduce import TOLERANCE
    from tuner.runs.reproduce import reproduce as retrain

    number = parse_trial(trial)
    outcome = retrain(resolve_run(run_ref), number)
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


@friendly
def inspect(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run folder (or a run name under ./reports)."),
    trial: str = typer.Option("best", "--trial", help="'best' or a trial number."),
    images: str = typer.Option("0,23,28", "--images", help="Test images, by index (the course's: three shoes)."),
    filter_index: int = typer.Option(1, "--filter", help="Which filter of each layer to show."),
    output: Path | None = typer.Option(None, "--output", "-o", help="PNG to write (default: in the run folder)."),
) -> None:
    """The course's convolution visualisation: each conv and pool layer's output, per image, for one filter."""
    from tuner.runs.feature_maps import feature_maps, save_feature_maps

    try:
        chosen = [int(part) for part in images.split(",") if part.strip()]
    except ValueError:
        raise CnnTuneError(f"give test image numbers such as 0,23,28, got {images!r}", field="images") from None
    if not chosen:
        raise CnnTuneError("give at least one test image number, such as 0,23,28", field="images")
    result = resolve_run(run_ref)
    number = result.trial_number(parse_trial(trial))  # an unknown trial is bad input, before any training
    maps = feature_maps(result, number, chosen, filter_index)
    path = save_feature_maps(maps, output or result.path / f"inspect-trial{number}-filter{filter_index}.png")
    shown = ", ".join(f"#{i} {label}" for i, label in zip(chosen, maps.labels, strict=True))
    console.print(f"wrote {path} ({shown})", markup=False, highlight=False)
