"""Epoch time of the course's reference model inside cnn-tune, on each installed Keras backend.

    CNN_TUNE_DATA=../shared/datasets python benchmarks/backends.py [--epochs 3] [--repeats 2]
        [--batch 32] [--backends tensorflow jax torch] [--variants spe=1 spe=32 mp device] [--exercise3]

Each arm (a backend with one variant of the training options) trains the reference model (Conv2D
32 3x3, MaxPooling2D, Dense 128, Adam 1e-3; the course's batch 32 by default) in its own
process, through `train_trial` exactly as a search trial does. Arms are alternated across repeats,
so machine noise hits all of them; the first epoch of each fit (tracing, compilation) is left out.
Prints each fit's epoch seconds and training accuracies (variants that keep the numbers, such as
`spe=K`, must agree), then the median seconds per epoch of each arm and its ratio to the first arm.
`--exercise3` trains four configurations of the exercise3 space instead (small to large, batch 32 to
128, a cosine schedule), one after another, each with every arm.

Variants: `spe=K` steps_per_execution K; `mp` mixed precision; `xla` jit_compile (TensorFlow XLA,
torch.compile on PyTorch; JAX always compiles); `device` the arrays converted to the backend's
tensors before fit (on the GPU when there is one) instead of NumPy arrays; `nodet` the GPU kernels as
the framework picks them, not deterministic (cnn-tune's --no-deterministic); `fit` on JAX, Keras's
fit loop instead of the fused epoch (cnn-tune's --keras-loop; on JAX every other arm is fused);
`scan` on JAX, the fused program scanning the whole epoch in one call, as on a GPU (on the CPU it
runs one step per call by default; CNN_TUNE_STEPS_PER_CALL=epoch).
`--same-seed` trains every repeat with one seed, so the last losses show whether an arm gives the
same numbers twice. Every arm keeps JAX's compiled programs in one new folder (`--compile-cache`),
so a JAX arm's first epoch compiles cold in its first repeat and loads them in later ones: the table's
first-epoch column is that of the last repeat.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
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
EXERCISE3 = [
    {**REFERENCE, "learning_rate": 3e-3, "lr_schedule": "cosine", "schedule_epochs": 4, **shape}
    for shape in (
        {"filters": 16, "dense_units": 256, "batch_size": 64},
        {"filters": 32, "dense_units": 256, "batch_size": 128},
        {"filters": 32, "dense_units": 256, "batch_size": 32},
        {"filters": 64, "kernel_size": 5, "dense_units": 192, "batch_size": 128},
    )
]
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def child(backend: str, variant: str, config: dict, seed: int) -> None:  # type: ignore[type-arg]
    """One fit of `config` in this process; prints its epoch seconds and accuracies as JSON on the last line."""
    from tuner.data import load_dataset
    from tuner.training.backend import keras, use_backend
    from tuner.training.options import TrainingOptions
    from tuner.training.trainer import train_trial

    parts = dict(part.partition("=")[::2] for part in variant.split("+"))
    if "scan" in parts:
        os.environ["CNN_TUNE_STEPS_PER_CALL"] = "epoch"
    use_backend(backend, deterministic="nodet" not in parts)
    data = load_dataset("mnist")
    options = TrainingOptions(
        backend=backend,
        steps_per_execution=int(parts.get("spe") or 1),
        mixed_precision="mp" in parts,
        xla="xla" in parts,
        fused="fit" not in parts,
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
    result = train_trial(config, data, seed=seed, say=lambda text: None, options=options)
    if result.state != "complete":
        print(f"{backend} {variant}: {result.state}: {result.fail_reason}", file=sys.stderr)
    history = result.history
    print(
        json.dumps(
            {
                "seconds": [row["seconds"] for row in history],
                "accuracy": [row["accuracy"] for row in history],
                "loss": [row["loss"] for row in history],
            }
        )
    )


def describe(config: dict) -> str:  # type: ignore[type-arg]
    size = config.get("kernel_size", 3)
    return f"{config['filters']} filters {size}x{size}, Dense {config['dense_units']}, batch {config['batch_size']}"


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
    parser.add_argument("--same-seed", action="store_true", help="every repeat with --seed: shows run-to-run noise")
    parser.add_argument("--config", help=argparse.SUPPRESS)  # the child's configuration, as JSON
    parser.add_argument("--exercise3", action="store_true", help="four exercise3 configurations")
    parser.add_argument("--compile-cache", help="JAX's compiled programs (default: a new temporary folder)")
    args = parser.parse_args()
    if args.child:
        child(*args.child, config=json.loads(args.config), seed=args.seed)
        return
    configs = EXERCISE3 if args.exercise3 else [{**REFERENCE, "batch_size": args.batch}]
    arms = [(b, v) for b in args.backends for v in args.variants]
    compiled = args.compile_cache or tempfile.mkdtemp(prefix="cnn-tune-compiled-")
    times: dict[tuple[str, str, str], list[float]] = {}
    first_epochs: dict[tuple[str, str, str], float] = {}
    for config in configs:
        model = describe(config)
        setting = json.dumps({**config, "epochs": args.epochs})
        for repeat in range(args.repeats):
            for backend, variant in arms:
                command = [sys.executable, __file__, "--child", backend, variant, "--config", setting]
                command += ["--seed", str(args.seed if args.same_seed else repeat)]
                env = {**os.environ, "KERAS_BACKEND": backend, "CNN_TUNE_COMPILE_CACHE": compiled}
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                lines = done.stdout.strip().splitlines()
                arm = times.setdefault((model, backend, variant), [])
                if done.returncode != 0 or not lines:
                    print(
                        f"{model}, repeat {repeat + 1} {backend} {variant}: failed\n{done.stderr[-2000:]}", flush=True
                    )
                    continue
                fit = json.loads(lines[-1])
                arm += fit["seconds"][1:]  # the first epoch traces and compiles
                first_epochs[(model, backend, variant)] = fit["seconds"][0]
                print(
                    f"{model}, repeat {repeat + 1} {backend} {variant}: s "
                    + " ".join(f"{s:.2f}" for s in fit["seconds"])
                    + "; accuracy "
                    + " ".join(f"{a:.4f}" for a in fit["accuracy"])
                    + f"; last loss {fit['loss'][-1]:.9f}",
                    flush=True,
                )
    print(f"\n{args.repeats} repeats x {args.epochs} epochs, first epoch left out")
    print("| model | backend | variant | median s/epoch | ratio to first | first epoch, last repeat |")
    print("|---|---|---|---|---|---|")
    first: dict[str, float] = {}
    for (model, backend, variant), values in times.items():
        if not values:
            print(f"| {model} | {backend} | {variant} | failed | | |")
            continue
        median = statistics.median(values)
        ratio = median / first.setdefault(model, median)
        start = first_epochs[(model, backend, variant)]
        print(f"| {model} | {backend} | {variant} | {median:.3f} | {ratio:.3f} | {start:.2f} |")


if __name__ == "__main__":
    main()
