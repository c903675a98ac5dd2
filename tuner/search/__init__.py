"""Searching: typed settings, the one trial loop every engine shares, and a whole search end to end."""

from __future__ import annotations

from tuner.search.observer import Observer
from tuner.search.session import SearchOutcome, run_search
from tuner.search.settings import Budget, SearchSettings, TrainingOptions

__all__ = ["Budget", "Observer", "SearchOutcome", "SearchSettings", "TrainingOptions", "run_search"]
