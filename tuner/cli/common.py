"""What every command shares: the consoles, one-line errors with the flag in front, the choices as enums."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from tuner.choices import ALGORITHMS, ENGINE_NAMES
from tuner.errors import CnnTuneError

__all__ = [
    "Algorithm",
    "EngineName",
    "Format",
    "OneLineErrors",
    "Table",
    "console",
    "errors",
    "fail",
    "friendly",
    "no_data_cache",
    "parse_trial",
    "resolve_run",
    "show_table",
    "state",
    "use_compile_cache",
    "write",
]

console = Console()
errors = Console(stderr=True)
state = {"debug": False}

# A library error's `field` (the setting at fault) -> the flag that sets it.
FLAGS = {
    "trials": "--trials",
    "timeout": "--timeout",
    "epoch_budget": "--epoch-budget",
    "max_epochs": "--max-epochs",
    "train_limit": "--train-limit",
    "patience": "--patience",
    "workers": "--workers",
    "gpus": "--gpus",
    "trials_per_gpu": "--trials-per-gpu",
    "steps_per_execution": "--steps-per-execution",
    "backend": "--backend",
    "tensorboard": "--tensorboard",
    "engine": "--engine",
    "algorithm": "--algorithm",
    "pruner": "--pruner",
    "storage": "--storage",
    "name": "--name",
    "set": "--set",
    "trial": "--trial",
    "images": "--images",
    "filter": "--filter",
    "format": "--format",
    "every": "--every",
    "top": "--top",
    "output": "--output",
}


# The choices typer checks, from the one list the engines use (tuner.choices).
EngineName = Enum("EngineName", {name: name for name in ENGINE_NAMES}, type=str)  # type: ignore[misc]
Algorithm = Enum(  # type: ignore[misc]
    "Algorithm", {name: name for name in dict.fromkeys(a for algos in ALGORITHMS.values() for a in algos)}, type=str
)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    md = "md"
    json = "json"
    html = "html"


class Table(str, Enum):
    leaderboard = "leaderboard"
    trials = "trials"
    history = "history"
    summary = "summary"


def fail(text: str, code: int = 2) -> None:
    """One red line on stderr, then exit."""
    errors.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def message(exc: CnnTuneError) -> str:
    """The library's message with the flag of the setting at fault in front (`--trials: must be ...`)."""
    if not exc.field:
        return exc.message
    name, _, rest = exc.field.partition(" ")
    flag = FLAGS.get(name, name)
    return f"{flag} {rest}: {exc.message}" if rest else f"{flag}: {exc.message}"


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a CnnTuneError into one red line on stderr and exit code 2 (`--debug` shows the traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CnnTuneError as exc:
            if state["debug"]:
                raise
            fail(message(exc))

    return wrapper


class OneLineErrors(typer.core.TyperGroup):
    """Usage errors typer finds itself (an unknown --engine, a missing --space) as one line too."""

    def main(  # type: ignore[override]
        self, args: list[str] | None = None, prog_name: str | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `cnn-tune` alone: the help, as typer shows it
                exc.show()  # type: ignore[attr-defined]
                sys.exit(0)
            errors.print(f"[bold red]error:[/] {escape(_usage_line(exc))}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except typer.Abort:
            errors.print("aborted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


_CHOICE = re.compile(r"Invalid value for '(--[\w-]+)'[^:]*: (?:Value error, )?'(.*?)' is not one of (.*?)\.?$")


def _usage_line(exc: Exception) -> str:
    """typer's usage error in one line; an unknown choice as `--engine: unknown engine 'x'; choose from: ...`."""
    text = " ".join((exc.format_message() if hasattr(exc, "format_message") else str(exc)).split())
    choice = _CHOICE.search(text)
    if choice:
        flag, value, options = choice.groups()
        shown = ", ".join(sorted(o.strip().strip("'") for o in options.split(",")))
        return f"{flag}: unknown {flag.removeprefix('--')} {value!r}; choose from: {shown}"
    return text


COMPILE_CACHE_HELP = "JAX: keep compiled programs in this folder across runs (default: the user's cache folder)."
NO_COMPILE_CACHE_HELP = "JAX: compile every program anew, keeping none."
NO_DATA_CACHE_HELP = "Decode an image folder into memory instead of mapping its cache (see CNN_TUNE_CACHE)."


def use_compile_cache(folder: Path | None, off: bool) -> None:
    """`--compile-cache DIR` / `--no-compile-cache`: where this process and its workers keep JAX's
    compiled programs (tuner.training.backend.compile_cache)."""
    import os

    if off:
        os.environ["CNN_TUNE_COMPILE_CACHE"] = "off"
    elif folder is not None:
        os.environ["CNN_TUNE_COMPILE_CACHE"] = str(folder)


def no_data_cache(skip: bool) -> None:
    """`--no-data-cache`: this process and the workers it starts decode image folders into memory."""
    if skip:
        import os

        os.environ["CNN_TUNE_CACHE"] = "off"


def parse_trial(text: str) -> int | None:
    """`--trial best|N`: None for the best trial."""
    if text == "best":
        return None
    if not text.isdigit():
        raise CnnTuneError(f"give 'best' or a trial number, got {text!r}", field="trial")
    return int(text)


def resolve_run(run_ref: str | None, storage: str | None = None, name: str | None = None) -> Any:
    """A run folder, a run name under ./reports, or a shared study's run."""
    from tuner.runs.reader import find_run, load_run, load_study_run

    if storage is not None:
        if not (name or run_ref):
            raise CnnTuneError("give the run's name too, with --name RUN", field="storage")
        return load_study_run(storage, str(name or run_ref))
    if run_ref is None:
        raise CnnTuneError("report: give a run folder, or --storage URL --name RUN")
    return load_run(find_run(run_ref))


def write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CnnTuneError(f"cannot write: {exc}", field=f"output {output}") from None
    console.print(f"wrote {escape(str(output))}")


def show_table(frame: Any, title: str, first: tuple[str, ...] = (), see_all: str = "--format md") -> None:
    """A table for a person: on a terminal, the columns that fit its width (by priority, `first`
    first; every number whole) and a line naming the rest; elsewhere (a pipe, a file, a CI log) the
    whole table as Markdown."""
    from tuner.reports import fit_columns, render, rich_table

    if not console.is_terminal:
        sys.stdout.write(render(frame, "md", title) + "\n")
        return
    kept, left_out = fit_columns(frame, console.width, first)
    console.print(rich_table(frame[kept], title=title))
    if left_out:
        console.print(
            f"{len(left_out)} columns left out to fit {console.width} characters: {', '.join(left_out)} "
            f"(all of them: {see_all}, or a wider terminal)",
            markup=False,
            highlight=False,
        )
