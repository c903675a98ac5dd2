"""Epoch time of the course's reference model inside cnn-tune, on each installed Keras backend.

    CNN_TUNE_DATA=../shared/datasets python benchmarks/backends.py [--epochs 3] [--repeats 2]
        [--batch 32] [--backends tensorflow jax torch] [--variants spe=1 spe=32 mp device]

Each arm (a backend with one variant of the training options) trains the reference model (Conv2D
32 3x3, MaxPooling2D, Dense 128, Adam 1e-3; the course's batch 32 by default) in its own
process, through `train_trial` exactly as a search trial does. Arms are alternated across repeats,
so machine noise hits all of them; the first epoch of each fit (tracing, compilation) is left out.
Prints the median seconds per epoch of each arm and its ratio to the first arm.

Variants: `spe=K` steps_per_execution K; `mp` mixed precision; `xla` jit_compile (TensorFlow XLA,
torch.compile on PyTorch; JAX always compiles); `device` the arrays converted to the backend's
tensors before fit (on the GPU when there is one) instead of NumPy arrays.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
from dataclasses import replace

REFERENCE = {
    "conv_layers": 1,
    "filters": 32,
    "kernel_size": 3,
    "dense_units": 128,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
}
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def child(backend: str, variant: str, batch: int, epochs: int, seed: int) -> None:
    """One fit in this process; prints its epoch seconds as JSON on the last line."""
    from tuner.data import load_dataset
    from tuner.training.backend import keras, use_backend
    from tuner.training.options import TrainingOptions
    from tuner.training.trainer import train_trial

    use_backend(backend)
    data = load_dataset("mnist")
    parts = dict(part.partition("=")[::2] for part in variant.split("+"))
    options = TrainingOptions(
        backend=backend,
        steps_per_execution=int(parts.get("spe") or 1),
        mixed_precision="mp" in parts,
        xla="xla" in parts,
    )
    if "device" in parts:
        tensor = keras.ops.convert_to_tensor
        data = replace(
            data,
            x_train=tensor(data.x_train),
            y_train=tensor(data.y_train),
            x_val=tensor(data.x_val),
            y_val=tensor(data.y_val),
        )
    config = {**REFERENCE, "batch_size": batch, "epochs": epochs}
    result = train_trial(config, data, seed=seed, say=lambda text: None, options=options)
    if result.state != "complete":
        print(f"{backend} {variant}: {result.state}: {result.fail_reason}", file=sys.stderr)
    print(json.dumps({"seconds": [row["seconds"] for row in result.history], "state": result.state}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    installed = [b for b, module in _MODULES.items() if importlib.util.find_spec(module)]
    parser.add_argument("--backends", nargs="+", default=installed)
    parser.add_argument("--variants", nargs="+", default=["spe=1"])
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "VARIANT"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        child(*args.child, batch=args.batch, epochs=args.epochs, seed=args.seed)
        return
    arms = [(b, v) for b in args.backends for v in args.variants]
    times: dict[tuple[str, str], list[float]] = {arm: [] for arm in arms}
    for repeat in range(args.repeats):
        for backend, variant in arms:
            command = [sys.executable, __file__, "--child", backend, variant, "--batch", str(args.batch)]
            command += ["--epochs", str(args.epochs), "--seed", str(repeat)]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend})
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                print(f"repeat {repeat + 1} {backend} {variant}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            seconds = json.loads(lines[-1])["seconds"]
            times[(backend, variant)] += seconds[1:]  # the first epoch traces and compiles
            print(f"repeat {repeat + 1} {backend} {variant}: " + " ".join(f"{s:.2f}" for s in seconds), flush=True)
    print(f"\nreference model, batch {args.batch}, {args.repeats} repeats x {args.epochs} epochs, first epoch left out")
    first = None
    print("| backend | variant | median s/epoch | ratio to first |")
    print("|---|---|---|---|")
    for (backend, variant), values in times.items():
        if not values:
            print(f"| {backend} | {variant} | failed | |")
            continue
        median = statistics.median(values)
        first = first or median
        print(f"| {backend} | {variant} | {median:.3f} | {median / first:.2f} |")


if __name__ == "__main__":
    main()
