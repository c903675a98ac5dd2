"""Curve-bound pruning checked on every recorded history under reports/: the same trials, in the same
order (identical proposals), replayed under `exact` alone and under `exact+curve`.

    python benchmarks/curve_bound.py [reports]

For each run whose objective has a threshold: the epochs each arm trains, the trials the curve bound
stops earlier, and the winners it loses (a trial that met the stop rule before the incumbent's epoch,
or at it in fewer training seconds, under `exact`, but that the bound stopped first; the goal is none).
Also: the trials `exact` stops an epoch after their learning rate reached zero, replayed against no
pruning (how many of them met the rule when trained on: the goal is none); how early the log-linear
line fitted on the first three epochs predicts the epoch a trial really met the threshold; and the
same for the line through epochs 2-3, the recent trend a pruned trial is told to the sampler as.
Last, the most any pruner could save against `exact` without losing a winner: a clairvoyant one that
stops, after its first LOOK epochs, every trial that `exact` stops (the curve bound needs 3 epochs
for its line), on the runs that trained without a pruner (whose histories are whole).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuner.pruners import ExactStop, NoPruner, Progress, Pruner, make_pruner, predicted_epoch
from tuner.pruners.exact import fastest
from tuner.records import TrialRecord
from tuner.runs import load_run
from tuner.training.schedules import trial_epochs, zero_after


def trial_configs(run) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    """{trial: the configuration it trained}."""
    return {int(n): json.loads(c) for n, c in zip(run.trials["trial"], run.trials["config"], strict=True)}


def replay(run, pruner: Pruner) -> tuple[dict[int, int], list[tuple[int, int, float]], dict[int, str]]:  # type: ignore[no-untyped-def]
    """({trial: epochs trained}, [(trial, epoch it met the rule, seconds to it)], {trial stopped: why})
    under `pruner`."""
    space, stop = run.space, run.space.stop
    done: list[TrialRecord] = []
    epochs: dict[int, int] = {}
    reached: list[tuple[int, int, float]] = []
    stopped: dict[int, str] = {}
    configs = trial_configs(run)
    for number, rows in run.history.sort_values(["trial", "epoch"]).groupby("trial", sort=True):
        history = rows.drop(columns=["trial"]).to_dict("records")
        progress = Progress(int(number), config=configs.get(int(number), {}))
        outcome = TrialRecord(int(number), "pruned", history=[])
        for row in history:
            progress.history.append(row)
            progress.values.append(space.objective.intermediate(row, stop))
            outcome.history.append(row)
            epochs[int(number)] = epochs.get(int(number), 0) + 1
            if stop.reached(row.get(stop.metric)):
                outcome.state = "complete"
                seconds = progress.fit_seconds
                outcome.result = {
                    "reached_threshold": True,
                    "epochs_to_threshold": len(progress.history),
                    "seconds_to_threshold": seconds,
                }
                reached.append((int(number), len(progress.history), seconds))
                break
            if why := pruner.reason(progress, done):
                stopped[int(number)] = why
                break
        done.append(outcome)
    return epochs, reached, stopped


class EpochsOnly(Pruner):
    """`exact` as it was when the search issue was filed: stop a trial once it has trained as many epochs
    as the fastest trial that met the rule needed (no tie-break on seconds, no zero-rate rule)."""

    name = "epochs-only"

    def reason(self, trial: Progress, finished: Sequence[TrialRecord]) -> str | None:
        best = fastest(finished)
        return "behind the incumbent" if best is not None and trial.epoch >= best.value else None


LOOKS = (3, 2, 1)  # epochs a pruner sees before it can judge a trial: the curve bound's line needs 3


def clairvoyant(trained: dict[int, int], stopped: dict[int, str], look: int) -> int:
    """Epochs a pruner that knew every trial's future would train: each trial `exact` stopped, stopped
    after `look` epochs (or when exact did, if sooner); the others as under exact."""
    return sum(min(epochs, look) if number in stopped else epochs for number, epochs in trained.items())


def concordant(estimates: list[tuple[int, float, float]], column: int) -> float:
    """The share of pairs of trials with different real epochs that `column`'s estimate orders alike."""
    pairs = [(a, b) for i, a in enumerate(estimates) for b in estimates[i + 1 :] if a[0] != b[0]]
    return sum((a[0] - b[0]) * (a[column] - b[column]) > 0 for a, b in pairs) / max(len(pairs), 1)


def spared(run) -> tuple[list[int], list[int], int]:  # type: ignore[no-untyped-def]
    """Where the loop no longer asks a pruner, on a run as it ran: (trials pruned at the last epoch they
    could train, now complete with the same epochs; the trial that completed the run's count, pruned while
    no trial had met the rule, now trained on, or none; and the epochs the one-trial rule would spare:
    those are the same trials, so 0 unless the run held one trial)."""
    trials = run.trials.sort_values("trial")
    finished = trials[trials["state"].isin(["complete", "pruned"])]
    at_last = [
        int(row.trial)
        for row in finished.itertuples()
        if row.state == "pruned" and int(row.epochs_run) >= trial_epochs(json.loads(row.config))
    ]
    last: list[int] = []
    target = int(run.record.get("trials") or 0)
    if len(finished) == target and target:
        row = finished.iloc[-1]
        before = finished.iloc[:-1]
        if row["state"] == "pruned" and not before["reached_threshold"].fillna(False).astype(bool).any():
            last = [int(row["trial"])]
    single = int(finished["epochs_run"].sum()) if target == 1 and (finished["state"] == "pruned").any() else 0
    return at_last, last, single


def rules_table(root: Path) -> None:
    """The loop's rules of issue 28 (no pruning at the last epoch, in a one-trial run, or of the trial
    that completes the count before any met the rule) on every recorded threshold run, as it ran."""
    print("\n## Where the loop now asks no pruner, on the recorded runs\n")
    print(
        "Each run as it ran (not replayed): trials pruned at the last epoch they could train (`epochs` or "
        "`--max-epochs`), which now end complete after the same epochs, and the trial that completed the "
        "run's `--trials` count while no trial had met the rule, which now trains on (its recorded history "
        "ends where it was pruned, so how far is not known). Runs with neither are left out.\n"
    )
    print("| run | trials | pruned at their last epoch (now complete) | last trial pruned before any success |")
    print("|---|---|---|---|")
    counted = [0, 0, 0]
    for record in sorted(root.rglob("run.json")):
        run = load_run(record.parent)
        if run.space.stop is None:
            continue
        at_last, last, _single = spared(run)
        counted[0] += 1
        counted[1] += len(at_last)
        counted[2] += len(last)
        if at_last or last:
            name = str(record.parent.relative_to(root))
            print(f"| {name} | {len(run.trials)} | {len(at_last)} {at_last or ''} | {last or '-'} |")
    print(
        f"\nOf {counted[0]} threshold runs: {counted[1]} trials pruned at their last epoch, "
        f"{counted[2]} runs whose last trial was pruned before any success."
    )


def main(root: Path) -> None:
    print("| run | trials | epochs, exact | epochs, exact+curve | saved | stopped earlier | winners lost |")
    print("|---|---|---|---|---|---|---|")
    ratios: list[float] = []
    estimates: list[tuple[int, float, float]] = []  # (real epoch, the line's, the recent trend's) at epoch 3
    totals = [0, 0, 0]
    # on runs trained without a pruner (all, and those on the space with schedules): exact's epochs, then per look
    ceilings = {which: [0] * (len(LOOKS) + 1) for which in ("all", "new")}
    bound = {which: 0 for which in ceilings}  # epochs under exact+curve on the same runs
    original = {which: 0 for which in ceilings}  # and under `EpochsOnly`
    frozen = [0, 0, 0]  # trials exact stopped as past their zero rate, epochs that saved, of them that met the rule
    for record in sorted(root.rglob("run.json")):
        run = load_run(record.parent)
        space, stop = run.space, run.space.stop
        if stop is None or space.objective.name != "epochs_to_threshold":
            continue
        exact_trained, exact_reached, exact_stopped = replay(run, ExactStop(space))
        plain_trained, plain_reached, _ = replay(run, NoPruner(space))
        # stopped past the epoch their rate reached zero: exact asks that first, so that was the reason
        configs = trial_configs(run)
        zero = [n for n in exact_stopped if exact_trained[n] > (zero_after(configs.get(n, {})) or math.inf)]
        frozen[0] += len(zero)
        frozen[1] += sum(plain_trained[n] - exact_trained[n] for n in zero)
        frozen[2] += len(set(zero) & {n for n, _, _ in plain_reached})
        curve_trained, _, curve_stopped = replay(run, make_pruner("exact+curve", space))
        exact_epochs, curve_epochs = sum(exact_trained.values()), sum(curve_trained.values())
        # a winner: met the rule in fewer epochs than every trial before it did, or in as many and
        # fewer seconds (under exact alone)
        best, winners = None, set()
        for number, epoch, seconds in exact_reached:
            if best is None or (epoch, seconds) <= best:
                winners.add(number)
                best = (epoch, seconds)
        lost = sorted(winners & set(curve_stopped))
        earlier = sum(curve_trained[n] < exact_trained[n] for n in curve_trained)
        totals[0] += exact_epochs
        totals[1] += curve_epochs
        totals[2] += len(lost)
        unpruned = run.record.get("pruner") == "none"
        epochs_only = sum(replay(run, EpochsOnly(space))[0].values()) if unpruned else 0
        for which in (("all", "new") if space.param("lr_schedule") else ("all",)) if unpruned else ():
            ceiling = ceilings[which]
            ceiling[0] += exact_epochs
            bound[which] += curve_epochs
            original[which] += epochs_only
            for i, look in enumerate(LOOKS, 1):
                ceiling[i] += clairvoyant(exact_trained, exact_stopped, look)
        name = str(record.parent.relative_to(root))
        trials = run.history["trial"].nunique()
        saved = 1 - curve_epochs / exact_epochs if exact_epochs else 0.0
        cells = [name, trials, exact_epochs, curve_epochs, f"{saved:.0%}", earlier, f"{len(lost)} {lost or ''}"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
        for _number, rows in run.history.groupby("trial"):
            history = rows.sort_values("epoch").to_dict("records")
            hit = next((i + 1 for i, r in enumerate(history) if stop.reached(r.get(stop.metric))), None)
            guess = predicted_epoch(space, history[:3])
            trend = predicted_epoch(space, history[:3], last=2)
            if hit is not None and hit > 3 and guess and trend:
                ratios.append(hit / guess)
                estimates.append((hit, guess, trend))
    saved = 1 - totals[1] / totals[0] if totals[0] else 0.0
    print(f"| **all** | | **{totals[0]}** | **{totals[1]}** | **{saved:.0%}** | | **{totals[2]}** |")
    print(
        f"\n`exact` stopped {frozen[0]} trials an epoch after their learning rate reached zero (cosine or one_cycle "
        f"past its horizon), {frozen[1]} epochs fewer than training them on; of those trials, trained on, "
        f"{frozen[2]} met the rule."
    )
    for which, label in (("all", "the runs trained without a pruner"), ("new", "those on the space with schedules")):
        base, *after = ceilings[which]
        if base:
            shares = ", ".join(f"{1 - e / base:.0%} after {look}" for look, e in zip(LOOKS, after, strict=True))
            print(
                f"\nThe most a pruner could save against `exact` without losing a winner, on {label} "
                f"({base} epochs under exact): stopping every trial exact stops as soon as it has seen "
                f"the epochs given: {shares}; the curve bound saves {1 - bound[which] / base:.0%} on them. "
                f"Against `exact` as it was when the search issue was filed (a trial stops once it has trained "
                f"the incumbent's epochs; {original[which]} epochs), `exact+curve` saves "
                f"{1 - bound[which] / original[which]:.0%}."
            )
    if ratios:
        print(
            f"\nReal epoch to the threshold / the line's epoch (fitted on epochs 1-3), over {len(ratios)} trials "
            f"that met it after epoch 3: min {min(ratios):.2f}, median {sorted(ratios)[len(ratios) // 2]:.2f}, "
            f"max {max(ratios):.2f} (below 1 would mean the line was late)."
        )
        trend_ratios = sorted(hit / trend for hit, _, trend in estimates)
        print(
            f"\nWhat a pruned trial is told (`ranking_value`) is the recent trend's epoch instead, the line through "
            f"the last two epochs: real / that at epoch 3: min {trend_ratios[0]:.2f}, median "
            f"{trend_ratios[len(trend_ratios) // 2]:.2f}, max {trend_ratios[-1]:.2f}; pairs of trials it orders as "
            f"their real epochs do: {concordant(estimates, 2):.0%} (the line through every epoch: "
            f"{concordant(estimates, 1):.0%})."
        )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "reports"))
    rules_table(Path(sys.argv[1] if len(sys.argv) > 1 else "reports"))
