"""The configuration each arm of the search benchmark chose, retrained on several fresh training
seeds: what the configuration is worth, apart from the luck of the seed it was found with.

    CNN_TUNE_DATA=../shared/datasets python benchmarks/retrain_best.py --objective folder-convnet \\
        [--roots reports/generalise-2 reports/generalise] [--seeds 0 1 2] [--retrain 10 11 12]
        [--out reports/generalise-2/retrained]

For every seed and arm of the objective (an arm missing from the first root is taken from the next),
takes the best complete trial within the objective's epoch budget (as search_summary does), pins
its searched parameters and trains it once per `--retrain` seed (`--trials 1 --patience 0`: every
epoch it drew, valued at its best), then prints per seed and arm the mean validation and test
accuracy of the retrained configuration, and per arm the mean over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalise import OBJECTIVES
from search_summary import within_budget

from tuner.reports import to_markdown


def chosen(run: Path, epochs: int) -> dict[str, object] | None:
    """The searched parameters of the run's best complete trial within `epochs`."""
    trials, _ = within_budget(pd.read_csv(run / "trials.csv"), epochs)
    done = trials[trials["state"] == "complete"]
    if done.empty:
        return None
    best = done.sort_values("val_accuracy", ascending=False).iloc[0]
    config = json.loads(best["config"])
    searched = [c.removeprefix("params_") for c in trials.columns if c.startswith("params_")]
    return {
        k: config[k] for k in searched if k in config and not (isinstance(config[k], float) and math.isnan(config[k]))
    }


def pins(config: dict[str, object]) -> list[str]:
    out = []
    for key, value in config.items():
        text = (
            ("true" if value else "false")
            if isinstance(value, bool)
            else repr(value)
            if isinstance(value, float)
            else str(value)
        )
        out += ["--set", f"{key}={text}"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", required=True, choices=list(OBJECTIVES))
    parser.add_argument(
        "--roots", type=Path, nargs="+", default=[Path("reports/generalise-2"), Path("reports/generalise")]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--retrain", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--out", type=Path, default=Path("reports/generalise-2/retrained"))
    options = parser.parse_args()
    objective = OBJECTIVES[options.objective]
    rows = []
    for seed in options.seeds:
        arms: dict[str, Path] = {}
        for root in options.roots:
            for record in sorted((root / options.objective / f"seed-{seed}").glob("*/run.json")):
                arms.setdefault(record.parent.name, record.parent)
        for arm, run in sorted(arms.items()):
            config = chosen(run, objective.epochs)
            if config is None:
                continue
            for again in options.retrain:
                name = f"{options.objective}-seed{seed}-{arm}-retrain{again}"
                folder = options.out / name
                if not (folder / "trials.csv").exists():
                    argv = [
                        "cnn-tune", "run", "--space", objective.space, *objective.args, *pins(config),
                        "--trials", "1", "--patience", "0", "--seed", str(again),
                        "--out", str(options.out), "--name", name, "-q",
                    ]  # fmt: skip
                    options.out.mkdir(parents=True, exist_ok=True)
                    with open(options.out / f"{name}.log", "w") as log:
                        subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
                if (folder / "trials.csv").exists():
                    trial = pd.read_csv(folder / "trials.csv").iloc[0]
                    rows.append(
                        {
                            "seed": seed,
                            "arm": arm,
                            "retrain": again,
                            "val": trial["val_accuracy"],
                            "test": trial["test_accuracy"],
                        }
                    )
                    print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    per_seed = table.groupby(["seed", "arm"], as_index=False)[["val", "test"]].mean().round(4)
    print(to_markdown(per_seed))
    print()
    print(to_markdown(per_seed.groupby("arm", as_index=False)[["val", "test"]].mean().round(4)))


if __name__ == "__main__":
    main()
