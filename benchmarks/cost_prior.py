"""The cost model's prior weights (`tuner.engines.cost.PRIOR_WEIGHTS`): fitted to every timed trial of
exercise3 on 28x28 grayscale images recorded under reports/ (full MNIST on a 2-core CPU).

    python benchmarks/cost_prior.py [reports]

Prints the weights and, for each run of at least five trials, how the prior orders its trials' seconds
per epoch (Spearman's correlation) and its median relative error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuner.engines.cost import CostModel, epoch_seconds
from tuner.runs import load_run

SHAPE, CLASSES = (28, 28, 1), 10


def timed_trials(root: Path) -> dict[str, list[tuple[dict, float]]]:
    """{run folder: [(configuration, seconds per epoch)]} for the exercise3 runs under `root`."""
    runs: dict[str, list[tuple[dict, float]]] = {}
    for record in sorted(root.rglob("run.json")):
        run = load_run(record.parent)
        if run.space.name != "exercise3":
            continue
        history = run.history
        timed = []
        for number, config in zip(run.trials["trial"], run.trials["config"], strict=True):
            rows = history[history["trial"] == number].sort_values("epoch").to_dict("records")
            if (seconds := epoch_seconds(rows)) is not None:
                timed.append((json.loads(config), seconds))
        runs[str(record.parent.relative_to(root))] = timed
    return runs


def main(root: Path) -> None:
    runs = timed_trials(root)
    everything = [pair for timed in runs.values() for pair in timed]
    model = CostModel.fit(everything, SHAPE, CLASSES)
    assert model is not None, "no timed exercise3 trials under " + str(root)
    print(f"{len(everything)} trials of {len(runs)} runs; weights: {', '.join(f'{w:.4g}' for w in model.weights)}")
    rhos, errors = [], []
    for timed in runs.values():
        if len(timed) < 5 or len({json.dumps(c, sort_keys=True) for c, _ in timed}) < 2:
            continue  # too few trials, or one configuration repeated (nothing to order)
        predicted = np.array([model.predict(config) for config, _ in timed], dtype=float)
        seconds = np.array([s for _, s in timed])
        rhos.append(spearmanr(predicted, seconds).statistic)
        errors.append(float(np.median(np.abs(predicted / seconds - 1))))
    print(
        f"per run ({len(rhos)} of at least 5 trials): Spearman min {min(rhos):.2f}, median {np.median(rhos):.2f}; "
        f"median relative error: median {np.median(errors):.0%}, max {max(errors):.0%}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "reports"))
