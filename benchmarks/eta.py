"""How good is the search's estimate of the time it still needs? Runs `cnn-tune run --space SPACE` (the
default search) with an observer that notes each estimate, then prints it beside the time that was
really left, trial by trial, and the ratio halfway (where the issue asks for 0.5x-2x).

    CNN_TUNE_DATA=../shared/datasets python benchmarks/eta.py exercise3 /tmp/eta-run
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tuner.search import Observer, SearchSettings, run_search
from tuner.search.eta import format_left


class Noted(Observer):
    def __init__(self) -> None:
        self.finished = 0
        self.notes: list[tuple[int, float, float | None]] = []  # (trials finished, when, estimate)

    def trial_finished(self, record) -> None:  # type: ignore[no-untyped-def]
        self.finished += 1

    def time_left(self, seconds: float | None) -> None:
        self.notes.append((self.finished, time.monotonic(), seconds))


def main() -> None:
    space, out = sys.argv[1], Path(sys.argv[2])
    noted = Noted()
    began = time.monotonic()
    outcome = run_search(SearchSettings(space=space, out=out, command=["cnn-tune", "run", "--space", space]), noted)
    ended = time.monotonic()
    total = len(outcome.records)
    print(f"{space}: {total} trials in {ended - began:.0f} s wall")
    print("| trials finished | estimate | really left | estimate / really left |")
    print("|---|---|---|---|")
    for finished, when, estimate in noted.notes:
        left = ended - when
        ratio = "-" if estimate is None or left <= 0 else f"{estimate / left:.2f}"
        shown = "-" if estimate is None else f"{estimate:.0f} s ({format_left(estimate)})"
        print(f"| {finished} | {shown} | {left:.0f} s | {ratio} |")
    half = min(noted.notes, key=lambda n: abs(n[1] - (began + ended) / 2))
    if half[2] is not None:
        print(
            f"halfway (after {half[0]} trials, {half[1] - began:.0f} s in): estimate {half[2]:.0f} s, "
            f"really left {ended - half[1]:.0f} s, ratio {half[2] / max(ended - half[1], 1e-9):.2f}"
        )


if __name__ == "__main__":
    main()
