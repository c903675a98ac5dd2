"""Tables a person reads: on a terminal the columns that fit its width, every number whole, and a line
naming the rest; in a pipe the whole table as Markdown. Run as a user would: `cnn-tune report` in its own
process, on the committed reference run, with the terminal's width in COLUMNS."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tuner.reports import fit_columns, leaderboard_priority, to_markdown
from tuner.reports.render import SHORT_HEADERS

RUN = Path(__file__).resolve().parent.parent / "reports" / "exercise3-mnist"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def report(*args: str, width: int | None) -> str:
    """What `cnn-tune report RUN ARGS` prints: on a terminal `width` wide, or into a pipe (None)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    if width is not None:
        env |= {"COLUMNS": str(width), "FORCE_COLOR": "1", "NO_COLOR": "1"}  # a terminal, without colours
    done = subprocess.run(
        [sys.executable, "-m", "tuner", "report", str(RUN), *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return ANSI.sub("", done.stdout)


def markdown_rows(text: str) -> pd.DataFrame:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return pd.DataFrame(rows, columns=header)


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    """The whole leaderboard as the pipe prints it: every column, every cell as formatted."""
    return markdown_rows(report(width=None))


def test_a_pipe_gets_the_whole_table_as_markdown(full: pd.DataFrame) -> None:
    trials = pd.read_csv(RUN / "trials.csv")
    finished = trials[trials["state"].isin(["complete", "pruned"])]
    assert len(full) == len(finished)
    assert {c.removeprefix("params_") for c in trials.columns if c.startswith("params_")} <= set(full.columns)
    assert {"rank", "trial", "reached_threshold", "epochs_to_threshold", "param_count", "fit_seconds"} <= set(full)
    assert full["rank"].tolist() == [str(i) for i in range(1, len(full) + 1)]


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_the_terminal_table_fits_and_keeps_every_number_whole(width: int, full: pd.DataFrame) -> None:
    text = report(width=width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert "…" not in text
    header_line = next(line for line in lines if line.startswith("┃"))
    headers = [cell.strip() for cell in header_line.strip("┃").split("┃")]
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in lines if line.startswith("│")]
    assert len(rows) == len(full)
    # Chosen by priority (the rank and objective first), shown in the table's own order.
    assert {"rank", "trial", "reached", "epochs"} <= set(headers)
    assert headers == [SHORT_HEADERS.get(c, c) for c in full.columns if SHORT_HEADERS.get(c, c) in headers]
    # Every shown cell is the whole value the pipe shows for it.
    by_header = {SHORT_HEADERS.get(c, c): c for c in full.columns}
    for i, header in enumerate(headers):
        assert [row[i] for row in rows] == full[by_header[header]].tolist(), header
    shown = {by_header[h] for h in headers}
    left_out = [c for c in full.columns if c not in shown]
    note = " ".join(" ".join(line for line in lines if not line.startswith(("┃", "│", "┏", "┡", "└"))).split())
    if left_out:
        assert f"{len(left_out)} columns left out to fit {width} characters: {', '.join(left_out)}" in note
        assert "--format md" in note
    else:
        assert "left out" not in note


def test_fitting_prefers_the_objective_then_the_searched_parameters() -> None:
    frame = pd.DataFrame(
        {"rank": [1], "trial": [7], "state": ["complete"], "filters": [32], "accuracy_long_name": [0.9876]}
    )
    kept, left_out = fit_columns(frame, 30, ("rank", "trial", "filters"))
    assert kept == ["rank", "trial", "filters"] and left_out == ["state", "accuracy_long_name"]
    assert fit_columns(frame, 500)[1] == []
    assert fit_columns(frame, 5)[0] == ["rank", "trial"]  # never fewer than two
    assert leaderboard_priority(["filters"])[:5] == (
        "rank",
        "trial",
        "reached_threshold",
        "epochs_to_threshold",
        "filters",
    )
    assert "| 0.9876 |" in to_markdown(frame)
