"""Augmentation against none, on photos it was not tuned on: the same search of
`benchmarks/objectives/shapes-augment.yaml` with the augment_* parameters searched, and with them
pinned to none, the same budget of training epochs, several seeds.

    python benchmarks/augmentation.py [--seeds 0 1 2] [--out reports/augmentation] [--epochs 48]

writes the generated folder once (eight kinds of shape at a random place, size, angle and colour on
a noisy background, 64x64 RGB, 80 training and 40 test images a class) into the user's cache, runs
every arm for every seed into OUT/seed-N/<arm>/ (a finished run is skipped, an unfinished one
resumes), and prints per seed and arm the best trial's validation accuracy, its train-validation
gap and test accuracy (the report's overfitting columns), and the mean over seeds.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.reports import to_markdown

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_summary import within_budget

HERE = Path(__file__).resolve().parent
SPACE = HERE / "objectives" / "shapes-augment.yaml"
FOLDER = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnn-tune" / "shapes-64"
SHAPES = ("circle", "square", "triangle", "cross", "ring", "bar", "pentagon", "star")
SIDE, TRAIN, TEST = 64, 80, 40
NONE = (
    "augment_flip=none",
    "augment_rotation=0.0",
    "augment_zoom=0.0",
    "augment_translation=0.0",
    "augment_contrast=0.0",
)
ARMS = {"augment": (), "no-augment": tuple(a for pin in NONE for a in ("--set", pin))}


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    corners = {"triangle": 3, "square": 4, "pentagon": 5, "star": 10}[kind]
    points = []
    for k in range(corners):
        radius = r * (0.45 if kind == "star" and k % 2 else 1.0)
        a = angle + 2 * math.pi * k / corners
        points.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
    return points


def draw(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One 64x64 RGB photo of `kind`: random place, size, angle, colours, noise."""
    from PIL import Image, ImageDraw

    background = rng.integers(0, 140, 3)
    pixels = np.clip(background + rng.normal(0, 25, (SIDE, SIDE, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    pen = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(120, 256, 3))
    r = rng.uniform(9, 20)
    cx, cy = rng.uniform(r, SIDE - r, 2)
    angle = rng.uniform(0, 2 * math.pi)
    if kind in ("circle", "ring"):
        box = (cx - r, cy - r, cx + r, cy + r)
        pen.ellipse(box, fill=colour if kind == "circle" else None, outline=colour, width=max(2, int(r / 3)))
    elif kind in ("cross", "bar"):
        for k in (0, 1) if kind == "cross" else (0,):
            a = angle + k * math.pi / 2
            dx, dy = r * math.cos(a), r * math.sin(a)
            pen.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=colour, width=max(3, int(r / 3)))
    else:
        pen.polygon(_polygon(kind, cx, cy, r, angle), fill=colour)
    return np.asarray(image)


def make_folder(folder: Path = FOLDER) -> Path:
    from PIL import Image

    if (folder / ".done").exists():
        return folder
    rng = np.random.default_rng(2026)
    for part, count in (("train", TRAIN), ("test", TEST)):
        for kind in SHAPES:
            (folder / part / kind).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.fromarray(draw(kind, rng)).save(folder / part / kind / f"{i:04d}.png")
    (folder / ".done").write_text("")
    return folder


def best_row(run: Path, epochs: int) -> dict[str, object] | None:
    """The run's best complete trial within the budget of `epochs` (a trial the budget ran out in
    counts with what it trained within it, as benchmarks/search_summary.py cuts them)."""
    table = run / "trials.csv"
    if not table.exists():
        return None
    trials, spent = within_budget(pd.read_csv(table), epochs)
    done = trials[trials["state"] == "complete"]
    if done.empty:
        return None
    best = done.sort_values("val_accuracy", ascending=False).iloc[0]
    return {
        "trials": len(trials),
        "epochs": spent,
        "best val_accuracy": float(best["val_accuracy"]),
        "its train_val_gap": float(best["train_val_gap"]),
        "its test_accuracy": float(best["test_accuracy"]),
        "mean gap, complete trials": float(done["train_val_gap"].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("reports/augmentation"))
    parser.add_argument("--epochs", type=int, default=48, help="the budget of training epochs of every run")
    options = parser.parse_args()
    folder = make_folder()
    rows = []
    for seed in options.seeds:
        for arm, pins in ARMS.items():
            out = options.out / f"seed-{seed}"
            argv = [
                "cnn-tune", "run", "--space", str(SPACE), "--dataset", str(folder), *pins,
                "--epoch-budget", str(options.epochs), "--trials", "1000", "--seed", str(seed),
                "--out", str(out), "--name", arm, "-q",
            ]  # fmt: skip
            found = best_row(out / arm, options.epochs)
            if found is None or found["epochs"] < options.epochs:  # type: ignore[operator]
                out.mkdir(parents=True, exist_ok=True)
                with open(out / f"{arm}.log", "a") as log:
                    subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
                found = best_row(out / arm, options.epochs)
            if found is not None:
                rows.append({"seed": seed, "arm": arm, **found})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if table.empty:
        sys.exit("no run finished")
    print()
    print(to_markdown(table.round(4)))
    print()
    print(to_markdown(table.drop(columns="seed").groupby("arm", as_index=False).mean().round(4)))


if __name__ == "__main__":
    main()
