"""The `cnn-tune` command: thin typer commands over the library, one module per group of commands."""

from __future__ import annotations

import typer

from tuner import __version__
from tuner.cli.common import OneLineErrors, console, state
from tuner.cli.report import compare, inspect, report, reproduce, watch
from tuner.cli.run import run
from tuner.cli.spaces import datasets, spaces_app

__all__ = ["app", "entry"]

app = typer.Typer(
    name="cnn-tune",
    help="Hyperparameter search for small Keras convolutional image classifiers.",
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: it wraps to the terminal (80 columns) without boxes
)
app.add_typer(spaces_app, name="spaces")


def _version(value: bool) -> None:
    if value:
        console.print(f"cnn-tune {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
) -> None:
    state["debug"] = debug


app.command()(datasets)
app.command()(run)
app.command()(report)
app.command()(compare)
app.command()(reproduce)
app.command()(inspect)
app.command()(watch)


def entry() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    entry()
