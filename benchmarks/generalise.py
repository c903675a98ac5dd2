"""The search benchmark beyond exercise3: four objectives, four arms, several seeds, one budget of
training epochs per objective.

    CNN_TUNE_DATA=../shared/datasets python benchmarks/generalise.py [--out reports/generalise]
        [--seeds 0 1 2] [--objectives NAME ...] [--arms NAME ...] [--timeout SECONDS]

runs, one after another (2 cores: side by side each would be slower by an unknown amount), every
arm on every objective for every seed, seed by seed, into OUT/<objective>/seed-N/<arm>/, with each
run's output in OUT/<objective>/seed-N/<arm>.log. A run whose trials already spent the budget is
skipped and an unfinished one resumes, so the benchmark is started again (in a later session)
with the same command. `benchmarks/search_summary.py --objectives OUT` prints the table.

Every arm is given the same budget of training epochs (`--epoch-budget`: counted by the study from
the trials' own records, so a busy machine does not shorten it) and starts from no configuration
of the space's own (`--no-start`): the arms other than the default stand for the loops a user
writes by hand. On the validation objectives every arm scores a trial at its best epoch (as
keras-tuner does); only the default ends a trial `--patience` epochs past it, the others train
every epoch they drew. The objectives and budgets were fixed before the first run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
FOLDER = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnn-tune" / "fashion-mnist-png"


# A stratified subset of the training images: an epoch of a random configuration on all 54,000 took
# 40-55 s on this 2-core machine, which would make the benchmark a day long.
LIMIT = ("--train-limit", "12000")


@dataclass(frozen=True)
class Objective:
    space: str
    epochs: int  # the budget of training epochs, every arm's
    about: str
    args: tuple[str, ...] = field(default=())
    validation: bool = False  # ranked by a validation metric (else a threshold's stop rule)


OBJECTIVES = {
    "exercise3": Objective(
        "exercise3",
        36,
        "MNIST (12,000 training images), 99.8% training accuracy in the fewest epochs (tuned on full MNIST)",
        LIMIT,
    ),
    "fashion-val87": Objective(
        str(HERE / "objectives" / "fashion-val87.yaml"),
        36,
        "Fashion-MNIST (12,000 training images), exercise3's space, 87% validation accuracy in the fewest epochs",
        LIMIT,
    ),
    "course-cnn": Objective(
        "course-cnn",
        60,
        "Fashion-MNIST (12,000 training images), 1-3 conv blocks, 5-20 epochs, highest validation accuracy",
        LIMIT,
        validation=True,
    ),
    "folder-convnet": Objective(
        str(HERE / "objectives" / "folder-convnet.yaml"),
        32,
        "an image folder (Fashion-MNIST's test images as PNG), VGG blocks, highest validation accuracy",
        ("--dataset", str(FOLDER)),
        validation=True,
    ),
}

ARMS = {
    "default-nostart": ("--no-start",),
    "optuna-tpe-none": ("--no-start", "--engine", "optuna", "--algorithm", "tpe", "--pruner", "none"),
    "keras-tuner-random": ("--no-start", "--engine", "keras-tuner", "--algorithm", "random"),
    "keras-tuner-hyperband": ("--no-start", "--engine", "keras-tuner", "--algorithm", "hyperband"),
}
# On a validation objective the hand-written loops score a trial at its best epoch, as keras-tuner
# does, but train every epoch asked for: the patience stop is the default's alone.
HAND_WRITTEN = ("--patience", "0")


def spent(folder: Path) -> int:
    """Epochs the run's finished trials trained, as its tables say (0 before any)."""
    table = folder / "trials.csv"
    if not table.exists():
        return 0
    trials = pd.read_csv(table)
    return int(trials.loc[trials["state"].isin(["complete", "pruned"]), "epochs_run"].sum())


def command(name: str, arm: str, seed: int, out: Path, timeout: float) -> list[str]:
    objective = OBJECTIVES[name]
    patience = HAND_WRITTEN if arm != "default-nostart" and objective.validation else ()
    return [
        "cnn-tune", "run", "--space", objective.space, *objective.args, *ARMS[arm], *patience,
        "--epoch-budget", str(objective.epochs), "--trials", "1000", "--timeout", f"{timeout:g}",
        "--seed", str(seed), "--out", str(out), "--name", arm, "-q",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/generalise"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--timeout", type=float, default=2400, help="a run's wall-clock guard, seconds")
    options = parser.parse_args()
    if "folder-convnet" in options.objectives and not FOLDER.exists():
        source = "/usr/share/datasets/fashion-mnist"
        subprocess.run([sys.executable, str(HERE / "fashion_png.py"), source, str(FOLDER)], check=True)
    for seed in options.seeds:
        for name in options.objectives:
            objective = OBJECTIVES[name]
            out = options.out / name / f"seed-{seed}"
            for arm in options.arms:
                if spent(out / arm) >= objective.epochs:
                    continue
                if (out / arm).exists() and not (out / arm / "study.journal").exists():
                    shutil.rmtree(out / arm)  # the tables of an unfinished run without its study (a clone): again
                out.mkdir(parents=True, exist_ok=True)
                argv = command(name, arm, seed, out, options.timeout)
                print(f"== {name} seed {seed} {arm}: {' '.join(argv)}", flush=True)
                start = time.monotonic()
                with open(out / f"{arm}.log", "a") as log:
                    log.write(f"== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n")
                    log.flush()
                    code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
                    wall = time.monotonic() - start
                    log.write(f"== exit {code}, {wall:.0f} s wall, {spent(out / arm)} epochs spent\n")
                print(f"   exit {code}, {wall:.0f} s wall, {spent(out / arm)} epochs spent", flush=True)


if __name__ == "__main__":
    main()
