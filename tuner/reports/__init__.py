"""Reports: DataFrames first (trials, history, leaderboard, summary), renderers second."""

from __future__ import annotations

from tuner.reports.compare import compare_frame, first_reached, side_by_side
from tuner.reports.render import FORMATS, fit_columns, leaderboard_priority, render, rich_table, to_markdown
from tuner.reports.tables import RunSummary, history_frame, leaderboard, summarize, trials_frame

__all__ = [
    "FORMATS",
    "RunSummary",
    "compare_frame",
    "first_reached",
    "fit_columns",
    "history_frame",
    "leaderboard",
    "leaderboard_priority",
    "render",
    "rich_table",
    "side_by_side",
    "summarize",
    "to_markdown",
    "trials_frame",
]
