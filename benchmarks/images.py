"""Photos at their real size: load time and peak memory of image folders of 224x224 RGB PNGs, this
tree's code (the decode-once cache, a batch at a time) against an earlier commit's, side by side.

    python benchmarks/images.py [--sizes 6000 20000] [--old 5d3b49e] [--root ~/.cache/cnn-tune/bench-images]
        [--out reports/images.md] [--loads-only]

generates the folders once (10 classes, a sixth of each in test/), then runs each measurement alone
in a fresh memory cgroup after dropping the page cache, and reads the cgroup's peak usage: every
page its processes held, a page two workers share counted once, the files they read included (the
PNGs, the cache file). It needs root and cgroup v1's memory controller (as on this machine); a
sampler of /proc missed the peaks, stalled while the process mapped memory. Measured:

- loading a folder (`load_dataset`, the space's 224x224 RGB): the earlier commit's code, this
  code's first load (an empty cache: decoding into it) and a later one (the cache mapped);
- a two-trial, one-epoch `run` of a small convnet (`--train-limit 40`, as in issue 34) on the folder
  and on a 60-image one, and the same with `--workers 2` (four trials);
- the largest folder with `--workers 2` (this code only: the earlier code holds float32 copies);
- the photo chapter's model (`convnet-224`) on this CPU: one epoch of the 60-image folder, its
  seconds per training image times 4,800 for the chapter's epoch.

The earlier commit is checked out with `git worktree` beside this tree and run from it with
PYTHONPATH; both use this environment's packages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
CLASSES = 10
SIDE = 224

SMALL_SPACE = """name: photos-small
description: a small convnet on 224x224 RGB folders (the loading benchmark's)
dataset: photos
params:
  family: convnet
  blocks: 2
  filters: 8
  head: gap
  dense_layers: 0
  learning_rate: {float: [0.0005, 0.005], log: true}
  batch_size: 32
  epochs: 1
objective: val_accuracy
data:
  image_size: [224, 224]
  color: rgb
"""


def _write_images(args: tuple[Path, int, int]) -> None:
    from PIL import Image

    folder, start, stop = args
    for i in range(start, stop):
        label, rng = i % CLASSES, np.random.default_rng(i)
        part = "test" if (i // CLASSES) % 6 == 5 else "train"
        y, x = np.mgrid[0:SIDE, 0:SIDE]
        base = np.stack([(x * (label + 1)) % 256, (y * (CLASSES - label)) % 256, (x + y + 25 * label) % 256], -1)
        noise = rng.integers(0, 64, (SIDE, SIDE, 3))
        image = ((base * 3 + noise * 4) // 4).clip(0, 255).astype(np.uint8)
        path = folder / part / f"class{label}" / f"{i:06d}.png"
        Image.fromarray(image).save(path)


def make_folder(root: Path, count: int) -> Path:
    """`count` generated 224x224 RGB PNGs in `root/<count>` (made once; a finished folder has .done)."""
    folder = root / str(count)
    if (folder / ".done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for part in ("train", "test"):
        for label in range(CLASSES):
            (folder / part / f"class{label}").mkdir(parents=True)
    chunks = [(folder, s, min(s + 500, count)) for s in range(0, count, 500)]
    with ProcessPoolExecutor() as pool:
        list(pool.map(_write_images, chunks))
    (folder / ".done").write_text("")
    return folder


CGROUP = Path("/sys/fs/cgroup/memory")  # cgroup v1's memory controller (root only)


@dataclass
class Measured:
    seconds: float
    peak_gb: float  # the cgroup's peak: every page its processes used, shared ones once, page cache too
    rss_gb: float  # the largest resident set of the command's own process
    code: int
    tail: str


def measure(argv: list[str], env: dict[str, str], cwd: Path, cold: bool = True) -> Measured:
    """Run `argv` alone in a new memory cgroup, after dropping the page cache (so the files it reads
    count for it; not when `cold` is false): the wall time, the cgroup's peak usage and the process's
    own peak RSS. It runs in
    `cwd`, outside either tree: Python puts the working folder first on the module path."""
    if cold:
        subprocess.run(["sync"], check=False)
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    group = CGROUP / f"cnn-tune-bench-{os.getpid()}"
    group.mkdir()
    try:
        start = time.monotonic()
        wrapped = ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "measured", *argv]
        process = subprocess.Popen(
            wrapped, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        peak = int((group / "memory.max_usage_in_bytes").read_text())
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            (CGROUP / "cgroup.procs").write_text(pid)
        group.rmdir()
    return Measured(seconds, peak / 1e9, usage.ru_maxrss * 1024 / 1e9, process.returncode, output.strip()[-300:])


def load_command(folder: Path) -> list[str]:
    code = (
        "import sys; from tuner.data import load_dataset; "
        f"d = load_dataset({str(folder)!r}, color='rgb', image_size=({SIDE}, {SIDE})); "
        "print(len(d.y_train), len(d.y_val), len(d.y_test))"
    )
    return [sys.executable, "-c", code]


def run_command(space: Path, folder: Path, out: Path, workers: int, extra: tuple[str, ...] = ()) -> list[str]:
    shutil.rmtree(out, ignore_errors=True)
    return [
        sys.executable, "-m", "tuner", "run", "--space", str(space), "--dataset", str(folder),
        "--trials", str(2 * workers), "--max-epochs", "1", "--train-limit", "40", "--workers", str(workers),
        "--out", str(out), "-q", *extra,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 20000])
    parser.add_argument("--old", default="5d3b49e", help="the earlier commit to compare with")
    parser.add_argument("--root", type=Path, default=Path.home() / ".cache" / "cnn-tune" / "bench-images")
    parser.add_argument("--out", type=Path, default=Path("reports/images.md"))
    parser.add_argument("--loads-only", action="store_true", help="measure the loads, not the runs")
    options = parser.parse_args()
    root = options.root.expanduser()
    scratch = Path(tempfile.mkdtemp(prefix="cnn-tune-images-"))
    old_tree = scratch / "old"
    git = ["git", "-C", str(TREE), "worktree"]
    subprocess.run([*git, "add", "-q", "--detach", str(old_tree), options.old], check=True)
    space = scratch / "photos-small.yaml"
    space.write_text(SMALL_SPACE)
    cache = scratch / "cache"
    base = dict(os.environ, CNN_TUNE_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2")
    new_env = base | {"PYTHONPATH": str(TREE), "CNN_TUNE_CACHE": str(cache)}
    old_env = base | {"PYTHONPATH": str(old_tree)}
    rows: list[tuple[str, str, Measured]] = []

    def tree_of(env: dict[str, str]) -> str:
        found = measure([sys.executable, "-c", "import tuner; print(tuner.__file__)"], env, scratch)
        return found.tail

    for env, tree in ((old_env, old_tree), (new_env, TREE)):
        assert tree_of(env).startswith(str(tree)), f"the measured code is not {tree}'s"

    def note(what: str, code: str, argv: list[str], env: dict[str, str], cold: bool = True) -> Measured:
        m = measure(argv, env, scratch, cold)
        rows.append((what, code, m))
        print(f"{what:<46} {code:<8} {m.seconds:7.1f} s {m.peak_gb:6.2f} GB, RSS {m.rss_gb:5.2f} GB, exit {m.code}")
        if m.code != 0:
            print(f"   {m.tail}")
        sys.stdout.flush()
        return m

    try:
        small = make_folder(root, 60)
        folders = {n: make_folder(root, n) for n in options.sizes}
        first = options.sizes[0]
        print(f"folders in {root}; old code {options.old}; new code {TREE}", flush=True)
        for n, folder in folders.items():
            if n == first:
                note(f"load {n:,} images", options.old, load_command(folder), old_env)
            shutil.rmtree(cache, ignore_errors=True)
            note(f"load {n:,} images, first (decode into the cache)", "new", load_command(folder), new_env)
            note(f"load {n:,} images, again (cache mapped)", "new", load_command(folder), new_env)
            note(f"load {n:,} images, again (page cache warm)", "new", load_command(folder), new_env, cold=False)
        runs = scratch / "runs"
        folder = folders[first]
        if options.loads_only:
            write_report(options.out, rows, options.old, None)
            return
        for label, env in ((options.old, old_env), ("new", new_env)):
            note("run, 60 images, 1 worker", label, run_command(space, small, runs, 1), env)
            note(f"run, {first:,} images, 1 worker", label, run_command(space, folder, runs, 1), env)
            note(f"run, {first:,} images, 2 workers", label, run_command(space, folder, runs, 2), env)
        for n in options.sizes[1:]:
            note(f"run, {n:,} images, 2 workers", "new", run_command(space, folders[n], runs, 2), new_env)
        # the chapter's model on the 60-image folder: its test set is small, the epoch is what is timed
        chapter = run_command(
            TREE / "search_spaces" / "convnet-224.yaml", small, runs, 1,
            ("--set", "learning_rate=0.001", "--set", "lr_patience=2"),
        )  # fmt: skip
        note("convnet-224, one epoch of the 60-image folder", "new", chapter, new_env)
        run_folder = runs / "convnet-224-optuna-cost-tpe"
        epoch = None
        if (run_folder / "history.csv").exists():
            import pandas as pd

            seconds = float(pd.read_csv(run_folder / "history.csv")["seconds"].iloc[0])
            trained = int(json.loads((run_folder / "run.json").read_text())["dataset"]["train"])
            epoch = (seconds, trained)
            print(f"convnet-224: {seconds:.1f} s for {trained} images, {seconds / trained:.2f} s an image")
        write_report(options.out, rows, options.old, epoch)
    finally:
        subprocess.run([*git, "remove", "--force", str(old_tree)], check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def write_report(path: Path, rows: list[tuple[str, str, Measured]], old: str, epoch: tuple[float, int] | None) -> None:
    commit = subprocess.run(["git", "-C", str(TREE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    lines = [
        "# Image folders at 224x224: load time and peak memory",
        "",
        f"`python benchmarks/images.py`, {time.strftime('%Y-%m-%d')}, commit {commit.stdout.strip()} against {old}, "
        f"{os.cpu_count()} cores. Peak GB: the peak of a memory cgroup holding only the command, the page "
        "cache dropped before it: every page of its processes (workers' shared pages once), the files read "
        "included. RSS GB: the command's own process's peak resident set (its workers not counted).",
        "",
        "| measurement | code | seconds | peak GB | RSS GB | exit |",
        "|---|---|---|---|---|---|",
        *(
            f"| {what} | {code} | {m.seconds:.1f} | {m.peak_gb:.2f} | {m.rss_gb:.2f} | {m.code} |"
            for what, code, m in rows
        ),
    ]
    if epoch is not None:
        seconds, trained = epoch
        lines += [
            "",
            f"convnet-224 (the photo chapter's model, batch 32) on this CPU: {seconds:.1f} s for an epoch of "
            f"{trained} training images, {seconds / trained:.2f} s an image, so about "
            f"{seconds / trained * 4800 / 60:.0f} minutes for the chapter's epoch of 4,800.",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
