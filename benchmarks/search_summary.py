"""The search benchmark over every seed: one row per arm and seed, then the goal checked per seed.

    python benchmarks/search_summary.py reports/search-benchmark

reads OUT/seed-N/<arm>/ (what `SEED=N benchmarks/engines_exercise3.sh SECONDS OUT/seed-N` wrote) and
prints Markdown. The goal: the default finds fewer epochs to the threshold than every other arm, and
meets the stop rule in fewer training seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from tuner import load_run
from tuner.reports import compare_frame
from tuner.reports.render import format_value, to_markdown

_SHOWN = {
    "trials": "trials",
    "pruned": "pruned",
    "reached_threshold": "met the rule",
    "best_epochs_to_threshold": "best epochs",
    "trials_to_first_reached": "trials to first met",
    "epochs_to_first_reached": "epochs to first met",
    "fit_seconds_to_first_reached": "seconds to first met",
    "total_epochs": "epochs trained",
    "best_test_accuracy": "best's test accuracy",
}


def table(root: Path) -> pd.DataFrame:
    frames = []
    for folder in sorted(root.glob("seed-*")):
        runs = [load_run(p.parent) for p in sorted(folder.glob("*/run.json"))]
        if runs:
            frame = compare_frame(runs)
            frame.insert(0, "seed", int(folder.name.removeprefix("seed-")))
            frames.append(frame)
    if not frames:
        raise SystemExit(f"{root}: no seed-N/<run>/ folders")
    return pd.concat(frames, ignore_index=True)


def verdicts(frame: pd.DataFrame) -> list[str]:
    lines = []
    for seed, rows in frame.groupby("seed"):
        default = rows[rows["run"] == "default"]
        if default.empty:  # the benchmark of the search alone: the default without start configurations
            default = rows[rows["run"] == "default-nostart"]
        others = rows[~rows["run"].str.startswith("default")]
        if default.empty or others.empty:
            continue
        mine = default.iloc[0]
        for figure, label in (("best_epochs_to_threshold", "best epochs"), ("fit_seconds_to_first_reached", "seconds")):
            theirs = others[figure].astype(float)
            beaten = bool((float(mine[figure]) < theirs.fillna(float("inf"))).all())
            best_other = others.loc[theirs.idxmin()] if theirs.notna().any() else None
            against = f"{best_other[figure]:.4g} ({best_other['run']})" if best_other is not None else "none met it"
            lines.append(
                f"seed {seed}: {label}: default {mine[figure]:.4g}, best of the others {against}: "
                f"{'beats all' if beaten else 'does NOT beat all'}"
            )
    return lines


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/search-benchmark")
    frame = table(root)
    shown = frame[["seed", "run", *_SHOWN]].rename(columns=_SHOWN)
    shown = shown.sort_values(["seed", "run"]).astype(object)
    for column in _SHOWN.values():
        shown[column] = [format_value(column, v) for v in shown[column]]
    print(to_markdown(shown))
    print()
    for line in verdicts(frame):
        print(f"- {line}")


if __name__ == "__main__":
    main()
