"""Renderers over report DataFrames: rich table, CSV, Markdown, JSON, HTML. No computation here."""

from __future__ import annotations

import base64
import html
import json
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FORMATS",
    "fit_columns",
    "format_value",
    "leaderboard_priority",
    "render",
    "rich_table",
    "to_html",
    "to_json",
    "to_markdown",
]

FORMATS = ("table", "csv", "md", "json", "html")
_RATIOS = ("accuracy", "best_stop_metric")


def format_value(column: str, value: Any) -> str:
    """How one cell reads: accuracies to 4 places, seconds to 1, missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, float):
        if any(column.endswith(r) for r in _RATIOS) or column == "train_val_gap":
            return f"{value:.4f}"
        if "seconds" in column:
            return f"{value:.1f}"
        if column == "learning_rate":
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    columns = list(frame.columns)
    return [[format_value(c, v) for c, v in zip(columns, row, strict=True)] for row in frame.itertuples(index=False)]


# Short headers for the terminal, where width is scarce; files keep the full column names.
SHORT_HEADERS = {
    "reached_threshold": "reached",
    "epochs_to_threshold": "epochs",
    "seconds_to_threshold": "seconds to thr",
    "kernel_size": "kernel",
    "dense_units": "dense",
    "learning_rate": "lr",
    "batch_size": "batch",
    "train_accuracy": "train acc",
    "val_accuracy": "val acc",
    "test_accuracy": "test acc",
    "fit_seconds": "fit s",
    "seconds_per_epoch": "s/epoch",
    "param_count": "params",
    "val_loss_rising": "overfit?",
    **{
        f"{m}_{side}": f"{m.replace('accuracy', 'acc')} {side[:3]}"
        for m in ("loss", "accuracy", "val_loss", "val_accuracy")
        for side in ("recorded", "reproduced")
    },
}


def leaderboard_priority(searched: list[str]) -> tuple[str, ...]:
    """The columns a leaderboard reader needs first when the terminal cannot show them all: the rank
    and the objective, the searched parameters, the accuracies; the rest as width allows."""
    first = ("rank", "trial", "reached_threshold", "epochs_to_threshold")
    return (*first, *searched, "val_accuracy", "test_accuracy", "train_accuracy", "state", "seconds_to_threshold")


def _header(column: Any) -> str:
    return SHORT_HEADERS.get(str(column), str(column))


def _widths(frame: pd.DataFrame) -> dict[str, int]:
    """Each column's width on the terminal: its widest cell or its header, whichever is wider."""
    cells = _cells(frame)
    return {str(c): max([len(_header(c)), *(len(row[i]) for row in cells)]) for i, c in enumerate(frame.columns)}


def fit_columns(frame: pd.DataFrame, width: int, first: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """The columns of a terminal table no wider than `width` (every cell whole), chosen by priority:
    `first` in its order, then the frame's own order; kept in the frame's order. Returns (kept,
    left out). The first two columns are always kept."""
    widths = _widths(frame)
    columns = [str(c) for c in frame.columns]
    order = [c for c in first if c in widths] + [c for c in columns if c not in first]
    used, chosen = 1, set[str]()  # the table's left border
    for column in order:
        cost = widths[column] + 3  # one space each side and a border
        if used + cost > width and len(chosen) >= 2:
            continue
        chosen.add(column)
        used += cost
    return [c for c in columns if c in chosen], [c for c in columns if c not in chosen]


def rich_table(frame: pd.DataFrame, title: str | None = None) -> Any:
    """The terminal table: cells never wrap or shorten (fit_columns chooses what fits)."""
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    widths = _widths(frame)
    for column in frame.columns:
        table.add_column(
            _header(column),
            justify="right" if pd.api.types.is_numeric_dtype(frame[column]) else "left",
            no_wrap=True,
            min_width=widths[str(column)],
        )
    for row in _cells(frame):
        table.add_row(*row)
    return table


def to_markdown(frame: pd.DataFrame) -> str:
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in _cells(frame):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"


def to_json(frame: pd.DataFrame) -> str:
    return json.dumps(json.loads(frame.to_json(orient="records")), indent=2) + "\n"


def to_html(frame: pd.DataFrame, title: str, images: list[tuple[str, bytes]] | None = None) -> str:
    """A self-contained page (PNG images embedded as data URIs); every string from the user is escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    figures = "".join(
        f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
        f"<figcaption>{html.escape(name)}</figcaption></figure>\n"
        for name, data in images or []
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>\n" for row in _cells(frame)
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><table><thead><tr>{head}</tr></thead>"
        f"<tbody>\n{body}</tbody></table>{figures}</body></html>\n"
    )


def render(frame: pd.DataFrame, fmt: str, title: str) -> str:
    """Render to text in one of FORMATS other than `table` (the rich table is printed, not returned)."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "md":
        return f"## {title}\n\n" + to_markdown(frame)
    if fmt == "json":
        return to_json(frame)
    if fmt == "html":
        return to_html(frame, title)
    raise ValueError(f"unknown format {fmt!r}")


def run_markdown(summary: Any, board: pd.DataFrame, run: dict[str, Any], top: int = 20) -> str:
    """The run's one-page Markdown report: command, summary, leaderboard."""
    command = " ".join(run.get("command", []))
    rows = "\n".join(f"| {k} | {v} |" for k, v in summary.as_rows())
    return (
        f"# {run.get('name', '')}\n\n"
        f"Space `{summary.space}`, engine {summary.engine} ({summary.algorithm}, pruner {summary.pruner}), "
        f"backend {summary.backend}, "
        f"objective {summary.objective}, dataset {run.get('dataset', {}).get('source', '')}"
        f" (classes: {', '.join(run.get('dataset', {}).get('class_names', [])) or '-'}).\n\n"
        f"Command:\n\n    {command}\n\n"
        f"**{summary.verdict()}**\n\n"
        f"## Summary\n\n| | |\n|---|---|\n{rows}\n\n"
        f"## Leaderboard (top {min(top, len(board))} of {len(board)} finished trials)\n\n"
        + to_markdown(board.head(top))
    )
