"""How long a search still needs: an estimate from the wall seconds its trials took so far.

Each trial still to start is expected to cost what the recent finished trials cost (the last
`RECENT`: as a pruner's budget grows, or once a trial met the stop rule and the pruners cut
harder, the recent ones are the better guide), the trials running now what they have left of
that, all spread over the workers. After a deadline (`--timeout`) no trial starts; the ones
started last run on past it, by half a trial on average.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

__all__ = ["RECENT", "format_left", "study_time_left", "time_left"]

RECENT = 8  # finished trials the estimate follows


def time_left(
    durations: Sequence[float],
    to_start: int,
    running: Sequence[float] = (),
    workers: int = 1,
    deadline_in: float | None = None,
) -> float | None:
    """Seconds the search still needs, or None before any trial has finished (nothing to go on).

    `durations`: wall seconds of the finished trials, oldest first; `to_start`: trials not yet
    started; `running`: seconds each running trial has run so far; `deadline_in`: seconds until
    no new trial starts."""
    if not durations:
        return None
    recent = list(durations[-RECENT:])
    per_trial = sum(recent) / len(recent)
    running_left = [max(per_trial - elapsed, 0.0) for elapsed in running]
    work = (sum(running_left) + max(0, to_start) * per_trial) / max(1, workers)
    if deadline_in is None or work <= deadline_in:
        return work
    if deadline_in <= 0:  # no trial starts any more: the running ones finish
        return max(running_left, default=0.0)
    return deadline_in + per_trial / 2  # the trials started last run on past the deadline, half a trial on average


def format_left(seconds: float | None) -> str:
    """`about 3 min left`, `about 40 s left`, or '' when nothing is known yet (or nothing is left)."""
    if seconds is None or seconds <= 0:
        return ""
    if seconds < 60:
        return f"about {max(5, 5 * math.ceil(seconds / 5)):.0f} s left"
    if seconds < 3600:
        return f"about {math.ceil(seconds / 60):.0f} min left"
    return f"about {seconds / 3600:.1f} h left"


def _moment(iso: object) -> float | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def study_time_left(
    trials: Iterable[tuple[str, object, object]],
    target: int,
    workers: int = 1,
    deadline: float | None = None,
    now: float | None = None,
    finished_count: int | None = None,
) -> float | None:
    """`time_left` for a study's trials as (state, started, finished) with ISO timestamps: durations of
    the finished ones in the order they finished, the running ones' seconds so far; `deadline` in
    seconds since the epoch. `finished_count` counts the study's finished trials when `trials` holds only
    the recent ones (the estimate follows the last `RECENT`)."""
    now = time.time() if now is None else now
    done: list[tuple[float, float]] = []
    running: list[float] = []
    for state, started, finished in trials:
        begin, end = _moment(started), _moment(finished)
        if state in ("complete", "pruned") and begin is not None and end is not None:
            done.append((end, end - begin))
        elif state == "running" and begin is not None:
            running.append(max(now - begin, 0.0))
    durations = [seconds for _, seconds in sorted(done)]
    to_start = target - (len(durations) if finished_count is None else finished_count) - len(running)
    return time_left(
        durations,
        to_start,
        running,
        workers=max(workers, len(running), 1),
        deadline_in=None if deadline is None else deadline - now,
    )
