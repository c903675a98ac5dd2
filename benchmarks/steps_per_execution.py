"""Epoch time of exercise3's models with 1 training step per call into the compiled step against K.

    CNN_TUNE_DATA=../shared/datasets python benchmarks/steps_per_execution.py [--repeats 3] [--epochs 3]
        [--steps 32] [--xla]

cnn-tune trials of four configurations of the exercise3 space (small to large, batch 32 to 128), the
arms alternated (1, K[, XLA]) within each configuration and repeat, so machine noise hits all; the first
epoch of each fit (graph tracing) is left out. Prints each fit's epoch seconds and training accuracies
(the arms must agree: the same numbers), then the median seconds per epoch of each arm and the ratios.
"""

from __future__ import annotations

import argparse
import statistics

from tuner.data import load_dataset
from tuner.training.options import TrainingOptions
from tuner.training.trainer import train_trial

BASE = {
    "conv_layers": 1,
    "pooling": "every",
    "dropout": 0.0,
    "learning_rate": 3e-3,
    "lr_schedule": "cosine",
    "schedule_epochs": 4,
}
CONFIGS = [
    {"filters": 16, "kernel_size": 3, "dense_units": 256, "batch_size": 64},
    {"filters": 32, "kernel_size": 3, "dense_units": 256, "batch_size": 128},
    {"filters": 32, "kernel_size": 3, "dense_units": 256, "batch_size": 32},
    {"filters": 64, "kernel_size": 5, "dense_units": 192, "batch_size": 128},
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--xla", action="store_true", help="also an arm with XLA (1 step per call)")
    args = parser.parse_args()
    data = load_dataset("mnist")
    arms = {
        "1 step": TrainingOptions(steps_per_execution=1),
        f"{args.steps} steps": TrainingOptions(steps_per_execution=args.steps),
    }
    if args.xla:
        arms["XLA, 1 step"] = TrainingOptions(steps_per_execution=1, xla=True)
    summary = []
    for shape in CONFIGS:
        config = {**BASE, **shape, "epochs": args.epochs}
        size = f"{shape['filters']} filters {shape['kernel_size']}x{shape['kernel_size']}"
        label = f"{size}, Dense {shape['dense_units']}, batch {shape['batch_size']}"
        times: dict[str, list[float]] = {name: [] for name in arms}
        for repeat in range(args.repeats):
            for name, options in arms.items():
                result = train_trial(config, data, seed=repeat, say=lambda text: None, options=options)
                seconds = [row["seconds"] for row in result.history]
                accuracy = [row["accuracy"] for row in result.history]
                times[name] += seconds[1:]  # the first epoch traces the graph
                print(
                    f"{label}, repeat {repeat + 1}, {name}: s "
                    + " ".join(f"{s:.2f}" for s in seconds)
                    + "; accuracy "
                    + " ".join(f"{a:.4f}" for a in accuracy),
                    flush=True,
                )
        medians = {name: statistics.median(values) for name, values in times.items()}
        first = next(iter(medians.values()))
        summary.append(
            f"{label}: median s/epoch "
            + ", ".join(f"{name} {value:.2f}" for name, value in medians.items())
            + "; ratio to 1 step: "
            + ", ".join(f"{name} {value / first:.3f}" for name, value in list(medians.items())[1:])
        )
    print(f"\n{args.repeats} repeats x {args.epochs} epochs, first epoch of each left out")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
