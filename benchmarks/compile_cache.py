"""What a trial's first epoch costs on JAX beyond a later one: compiled cold, its shapes compiled
before in the same process, and its programs loaded from the persistent compile cache of an
earlier process (issue 32, item 2).

    CNN_TUNE_DATA=../shared/datasets python benchmarks/compile_cache.py [--rows 6400] [--repeats 2]
        [--config JSON]

Each repeat runs three processes on one new cache folder, then one without a cache:
- `cold`: trial A (the first of its shapes in this process, nothing on disk), then `same run`: trial
  B of the same shapes with another rate, dropout rate, schedule and seed;
- `warm`: a new process, trial A again, its programs on disk from the first;
- `no cache`: a new process with `--no-compile-cache`'s setting, trial A.
Per case: the first epoch, the median later epoch, their difference (what starting costs) and the
programs this process traced (and compiled or loaded). Trials run through `train_trial`, fused.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CONFIG = {
    "filters": 32,
    "kernel_size": 3,
    "dense_units": 256,
    "batch_size": 128,
    "dropout": 0.1,
    "batch_norm": True,
    "learning_rate": 0.002,
    "lr_schedule": "cosine",
    "schedule_epochs": 3,
    "epochs": 3,
}
OTHER = {"learning_rate": 0.004, "dropout": 0.2, "lr_schedule": "one_cycle", "schedule_epochs": 4}


def child(rows: int, config: dict, trials: list[str]) -> None:  # type: ignore[type-arg]
    from dataclasses import replace

    from tuner.data import load_dataset
    from tuner.training import fused
    from tuner.training.backend import use_backend
    from tuner.training.options import TrainingOptions
    from tuner.training.trainer import train_trial

    use_backend("jax")
    data = load_dataset("mnist")
    if rows:
        data = replace(data, x_train=data.x_train[:rows], y_train=data.y_train[:rows])
    out = []
    for trial in trials:
        settings = {**config, **(OTHER if trial == "B" else {})}
        result = train_trial(settings, data, seed=3 if trial == "B" else 0, say=lambda _: None,
                             options=TrainingOptions(backend="jax"))  # fmt: skip
        out.append({"seconds": [row["seconds"] for row in result.history], "traced": fused.programs_compiled()})
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=6400, help="training images (0: all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--config", default=json.dumps(CONFIG))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    config = json.loads(args.config)
    if args.child:
        child(args.rows, config, args.child)
        return
    cases: dict[str, list[float]] = {}
    later: dict[str, list[float]] = {}
    traced: dict[str, dict[str, int]] = {}
    for repeat in range(args.repeats):
        folder = tempfile.mkdtemp(prefix="cnn-tune-compiled-")
        for name, trials, cache in (
            ("cold", ["A", "B"], folder),
            ("warm", ["A"], folder),
            ("no cache", ["A"], "off"),
        ):
            env = {**os.environ, "KERAS_BACKEND": "jax", "CNN_TUNE_COMPILE_CACHE": cache}
            command = [sys.executable, __file__, "--rows", str(args.rows), "--config", args.config, "--child", *trials]
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"repeat {repeat + 1} {name}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            results = json.loads(done.stdout.strip().splitlines()[-1])
            for case, result in zip([name, "same run"] if name == "cold" else [name], results, strict=True):
                seconds = result["seconds"]
                cases.setdefault(case, []).append(seconds[0])
                later.setdefault(case, []).extend(seconds[1:])
                traced[case] = result["traced"]
                print(f"repeat {repeat + 1} {case}: epochs " + " ".join(f"{s:.2f}" for s in seconds), flush=True)
    print(f"\n{args.repeats} repeats, {args.rows or 'all'} training images, {json.dumps(config)}")
    print("| trial | first epoch s (median) | later epoch s (median) | start-up cost s | programs traced so far |")
    print("|---|---|---|---|---|")
    for case, firsts in cases.items():
        first, rest = statistics.median(firsts), statistics.median(later[case])
        print(f"| {case} | {first:.2f} | {rest:.2f} | {first - rest:.2f} | {traced[case]} |")


if __name__ == "__main__":
    main()
