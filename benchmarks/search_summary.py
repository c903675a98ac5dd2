"""The search benchmarks over every seed: one row per arm and seed, then the goals checked per seed.

    python benchmarks/search_summary.py --objectives reports/generalise [EARLIER ...]

reads OUT/<objective>/seed-N/<arm>/ (what `benchmarks/generalise.py` wrote), cuts every run at its
objective's budget of training epochs (the trials, in the order they started, that finished within
it: a trial the budget ran out in counts with what it trained, never with what it found after), and
prints per objective one row per seed and arm, then per seed whether the default is at least as good
as every other arm on the best value, and how far it is from keras-tuner RandomSearch.

    python benchmarks/search_summary.py reports/search-benchmark [EARLIER ...]

reads OUT/seed-N/<arm>/ (what `SEED=N benchmarks/engines_exercise3.sh SECONDS OUT/seed-N` wrote) and
prints Markdown. An arm rerun alone (ARMS=default-nostart) is compared with the other arms of EARLIER
runs of the benchmark: an arm missing from the first folder is taken from the next that has it.

The goals, per seed: the default meets the stop rule in at most 4 epochs and 25 s of
training; it finds fewer epochs to the threshold than every other arm and meets the stop rule in fewer
training seconds. Then, where the default and optuna TPE without pruning drew the same configurations
(same sampler, same seed), the epochs each trained on them: what the default's pruning saves with
identical proposals, and whether it stopped a winner (a trial that met the rule in fewer epochs than
every trial before it, or in as many and fewer seconds, as the objective ranks them).

Last, the search over time: the training seconds each arm spent until a trial met the rule within E
epochs, for each E. Seconds to a first success counts a trial that met the rule in 16 epochs as much as
one that met it in 4; this table shows how soon each arm had an answer of each quality.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd

from tuner import load_run
from tuner.errors import CnnTuneError
from tuner.reports import compare_frame, first_reached
from tuner.reports.render import format_value, to_markdown
from tuner.runs import Run

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
GOAL_EPOCHS, GOAL_SECONDS = 4, 25.0
PLAIN_TPE = "optuna-tpe-none"  # the arm that draws what the default draws, without pruning
GOAL = f"at most {GOAL_EPOCHS} epochs and {GOAL_SECONDS:.0f} s"
WITHIN = (8, 6, 5, 4, 3)  # the answers' epochs the search-over-time table follows


def table(roots: list[Path]) -> tuple[pd.DataFrame, dict[tuple[int, str], Run]]:
    """One compare row per arm and seed, and the runs themselves by (seed, run name); an arm comes from
    the first of `roots` that has it for that seed."""
    found: dict[int, dict[str, Path]] = {}
    for root in roots:
        for folder in sorted(root.glob("seed-*")):
            arms = found.setdefault(int(folder.name.removeprefix("seed-")), {})
            for record in sorted(folder.glob("*/run.json")):
                arms.setdefault(record.parent.name, record.parent)
    frames, loaded = [], {}
    for seed, arms in sorted(found.items()):
        runs = [load_run(arms[name]) for name in sorted(arms)]
        frame = compare_frame(runs)
        frame.insert(0, "seed", seed)
        frames.append(frame)
        loaded.update({(seed, run): r for run, r in zip(frame["run"], runs, strict=True)})
    if not frames:
        raise SystemExit(f"{', '.join(map(str, roots))}: no seed-N/<run>/ folders")
    return pd.concat(frames, ignore_index=True), loaded


def default_run(rows: pd.DataFrame) -> pd.DataFrame:
    """The default arm of one seed: `default`, else the benchmark of the search alone, `default-nostart`."""
    default = rows[rows["run"] == "default"]
    return default if not default.empty else rows[rows["run"] == "default-nostart"]


def verdicts(seed: int, mine: pd.Series, others: pd.DataFrame) -> list[str]:
    """The default against every other arm of one seed, on best epochs and on seconds to a first success."""
    if others.empty:
        return []
    lines = []
    for figure, label in (
        ("best_epochs_to_threshold", "best epochs"),
        ("fit_seconds_to_first_reached", "training seconds to a first success"),
    ):
        theirs = others[figure].astype(float).fillna(float("inf"))
        own = float(mine[figure]) if pd.notna(mine[figure]) else float("inf")
        best_other = others.loc[theirs.idxmin()]
        against = f"{best_other[figure]:.4g} ({best_other['run']})" if theirs.min() < float("inf") else "none met it"
        verdict = "beats all" if (own < theirs).all() else "a tie" if own == theirs.min() else "does NOT beat all"
        lines.append(f"seed {seed}: {label}: default {own:.4g}, best of the others {against}: {verdict}")
    return lines


def fastest_within(seed: int, run: Run) -> str:
    """The goal line: the default's fastest trial that met the rule within GOAL_EPOCHS epochs."""
    trials = run.trials
    met = trials[trials["reached_threshold"].fillna(False).astype(bool)]
    met = met[met["epochs_to_threshold"].astype(float) <= GOAL_EPOCHS]
    if met.empty:
        return f"seed {seed}: {GOAL}: no trial met the rule within {GOAL_EPOCHS} epochs: NOT met"
    best = met.loc[met["seconds_to_threshold"].astype(float).idxmin()]
    seconds = float(best["seconds_to_threshold"])
    return (
        f"seed {seed}: {GOAL}: the default's fastest such trial, "
        f"{int(best['trial'])}, {int(best['epochs_to_threshold'])} epochs in {seconds:.1f} s: "
        f"{'met' if seconds <= GOAL_SECONDS else 'NOT met'}"
    )


def same_proposals(seed: int, run: Run, other: Run | None, plain: str = PLAIN_TPE) -> str | None:
    """Epochs trained by the default and by TPE without pruning over the trials both drew alike."""
    if other is None:
        return None
    mine, theirs = (r.trials.sort_values("trial") for r in (run, other))
    shared = 0
    for a, b in zip(mine["config"], theirs["config"], strict=False):
        if json.loads(a) != json.loads(b):
            break
        shared += 1
    if shared == 0:
        return f"seed {seed}: same proposals: the default's first trial already differs from {plain}'s"
    mine, theirs = mine.head(shared), theirs.head(shared)
    pruned = mine["state"].eq("pruned").to_numpy()
    met = theirs["reached_threshold"].fillna(False).astype(bool).to_numpy()
    # (epochs, seconds) to the threshold, the objective's order: fewer epochs, then fewer seconds
    reached = list(
        zip(theirs["epochs_to_threshold"].astype(float), theirs["seconds_to_threshold"].astype(float), strict=True)
    )
    # a trial the default stopped that, trained on, met the rule ahead of every trial before it
    lost = sum(
        1
        for i in range(shared)
        if pruned[i] and met[i] and all(not met[j] or reached[i] <= reached[j] for j in range(i))
    )
    spent, full = int(mine["epochs_run"].sum()), int(theirs["epochs_run"].sum())
    return (
        f"seed {seed}: same proposals: the first {shared} trials of both; epochs trained: default {spent}, "
        f"{plain} {full} ({1 - spent / full:.0%} fewer); winners the default stopped: {lost}"
    )


def over_time(frame: pd.DataFrame, runs: dict[tuple[int, str], Run]) -> pd.DataFrame:
    """Per seed and arm, the seconds until an answer within each of WITHIN epochs ("-": none in the run)."""
    rows = []
    for seed, name in zip(frame["seed"], frame["run"], strict=True):
        trials = runs[int(seed), str(name)].trials
        row: dict[str, object] = {"seed": int(seed), "run": name}
        for epochs in WITHIN:
            seconds = first_reached(trials, within=epochs)[2]
            row[f"s to <= {epochs} epochs"] = "-" if seconds is None else f"{seconds:.1f}"
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["seed", "run"])


# -- the benchmark of several objectives (benchmarks/generalise.py) ----------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalise import ARMS, OBJECTIVES  # noqa: E402

DEFAULT, RANDOM = "default-nostart", "keras-tuner-random"
THIRDS = (1 / 3, 2 / 3, 1.0)  # the points of the budget where an objective without a threshold is read


def within_budget(trials: pd.DataFrame, epochs: int) -> tuple[pd.DataFrame, int]:
    """The finished trials, in the order they started, that finished within `epochs` training
    epochs, and the epochs spent (at most `epochs`: the trial the budget ran out in counts with
    the epochs it trained within it)."""
    done = trials[trials["state"].isin(["complete", "pruned"])].sort_values("trial")
    ends = done["epochs_run"].fillna(0).astype(int).cumsum()
    return done[ends <= epochs], int(min(epochs, ends.iloc[-1])) if len(ends) else 0


def best_of(trials: pd.DataFrame, threshold: bool) -> float | None:
    """The best value among `trials`: fewest epochs to the threshold, or highest validation accuracy
    of a complete trial (None when no trial met the rule / none completed)."""
    if threshold:
        met = trials[trials["reached_threshold"].fillna(False).astype(bool)]
        return None if met.empty else float(met["epochs_to_threshold"].min())
    complete = trials[trials["state"] == "complete"]
    return None if complete.empty else float(complete["val_accuracy"].max())


def objective_rows(root: Path, epochs: int) -> pd.DataFrame:
    """One row per seed and arm of one objective, every run cut at `epochs`."""
    rows = []
    for record in sorted(root.glob("seed-*/*/run.json")):
        folder = record.parent
        run = load_run(folder)
        try:
            kept, spent = within_budget(run.trials, epochs)
        except CnnTuneError:  # no trial has finished yet
            continue
        threshold = run.space.objective.needs_stop
        row: dict[str, object] = {
            "seed": int(folder.parent.name.removeprefix("seed-")),
            "arm": folder.name,
            "trials": len(kept),
            "pruned": int((kept["state"] == "pruned").sum()),
            "epochs": spent,
            "training s": float(kept["fit_seconds"].fillna(0).sum()),
            "best": best_of(kept, threshold),
        }
        if threshold:
            row["first met: trials"], row["first met: epochs"], row["first met: s"] = first_reached(kept)
            row["met"] = int(kept["reached_threshold"].fillna(False).astype(bool).sum())
        else:
            for part in THIRDS:
                row[f"best at {part * epochs:.0f} epochs"] = best_of(
                    within_budget(run.trials, round(part * epochs))[0], False
                )
        row["threshold"] = threshold
        rows.append(row)
    return pd.DataFrame(rows)


def better(a: float | None, b: float | None, threshold: bool) -> int:
    """1 when value `a` beats `b`, 0 on a tie, -1 when it loses (None: nothing found, the worst)."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    if a == b:
        return 0
    return 1 if (a < b if threshold else a > b) else -1


def objective_verdicts(rows: pd.DataFrame) -> list[str]:
    """Per seed: the default against every other arm on the best value, and against RandomSearch."""
    lines = []
    for seed, arms in rows.groupby("seed"):
        threshold = bool(arms["threshold"].iloc[0])
        best = {str(a): (None if pd.isna(v) else float(v)) for a, v in zip(arms["arm"], arms["best"], strict=True)}
        if DEFAULT not in best:
            continue
        mine, others = best[DEFAULT], {a: v for a, v in best.items() if a != DEFAULT}
        if len(best) < len(ARMS):
            lines.append(f"seed {seed}: not every arm has run yet: no verdict")
            continue
        scores = {a: better(mine, v, threshold) for a, v in others.items()}
        unit = "epochs" if threshold else "points of accuracy"
        if all(v == mine for v in others.values()):
            verdict = "every arm ties" + (" (nothing found by any)" if mine is None else "")
        elif min(scores.values()) >= 0:
            verdict = "at least as good as every other arm"
        else:
            verdict = "loses to " + ", ".join(a for a, s in scores.items() if s < 0)
        gap = ""
        if RANDOM in best:
            theirs = best[RANDOM]
            if mine is None:
                gap = "; found nothing: a loss to RandomSearch" if theirs is not None else ""
            elif theirs is not None:
                behind = (mine - theirs) if threshold else 100 * (theirs - mine)
                gap = f"; behind RandomSearch by {behind:.2f} {unit}" if behind > 0 else ""
                gap += " (more than one: NOT met)" if behind > 1 else ""
        shown = "none" if mine is None else f"{mine:.4g}"
        lines.append(f"seed {seed}: default {shown}: {verdict}{gap}")
    return lines


def objectives_main(roots: list[Path]) -> None:
    for name, objective in OBJECTIVES.items():
        frames = []
        for root in roots:  # an arm missing from the first root is taken from the next that has it
            if (root / name).exists():
                found = objective_rows(root / name, objective.epochs)
                if frames and not found.empty:
                    have = set(zip(frames[0]["seed"], frames[0]["arm"], strict=True))
                    found = found[[(s, a) not in have for s, a in zip(found["seed"], found["arm"], strict=True)]]
                frames.append(found)
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if rows.empty:
            continue
        rows = rows.sort_values(["seed", "arm"])
        print(f"### {name}: {objective.about}; {objective.epochs} training epochs per run")
        print()
        shown = rows.drop(columns="threshold").astype(object)
        for column in shown.columns[2:]:
            shown[column] = [
                "-"
                if v is None or (isinstance(v, float) and math.isnan(v))
                else f"{v:.4g}"
                if isinstance(v, float)
                else v
                for v in shown[column]
            ]
        print(to_markdown(shown))
        print()
        for line in objective_verdicts(rows):
            print(f"- {line}")
        print()


def main() -> None:
    if sys.argv[1:2] == ["--objectives"]:
        objectives_main([Path(a) for a in sys.argv[2:]] or [Path("reports/generalise")])
        return
    roots = [Path(a) for a in sys.argv[1:]] or [Path("reports/search-benchmark")]
    frame, runs = table(roots)
    shown = frame[["seed", "run", *_SHOWN]].rename(columns=_SHOWN)
    shown = shown.sort_values(["seed", "run"]).astype(object)
    for column in _SHOWN.values():
        shown[column] = [format_value(column, v) for v in shown[column]]
    print(to_markdown(shown))
    print()
    lines: list[str | None] = []
    for number, rows in frame.groupby("seed"):
        seed, default = int(number), default_run(rows)
        if default.empty:
            continue
        mine = default.iloc[0]
        run = runs[seed, str(mine["run"])]
        lines += verdicts(seed, mine, rows[~rows["run"].str.startswith("default")])
        lines += [fastest_within(seed, run), same_proposals(seed, run, runs.get((seed, PLAIN_TPE)))]
    for line in filter(None, lines):
        print(f"- {line}")
    print()
    print("Training seconds until a trial met the rule within E epochs:")
    print()
    print(to_markdown(over_time(frame, runs)))


if __name__ == "__main__":
    main()
