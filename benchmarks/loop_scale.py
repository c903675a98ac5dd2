"""The search's own cost per trial as the study grows: a search whose trials train nothing.

    [PYTHONPATH=OLD_TREE] python benchmarks/loop_scale.py [--trials 2000] [--block 500]
        [--algorithms random cost-tpe] [--workers 1 2] [--storage journal postgres] [--proposals] [--out DIR]

exercise3 without its start configurations, on a tiny synthetic dataset, with a trial runner that
computes each epoch's accuracy from the configuration (up to 20 epochs, the threshold met after a
few for most) and returns at once: every second of wall time is cnn-tune's loop, the sampler, the
records and the tables. For each block of trials it prints the milliseconds per trial of each
worker (the wall time between the starts of its consecutive trials), the part of it spent in the
sampler (optuna's sampler methods), and the rest: cnn-tune's own part, optuna's storage included.
`PYTHONPATH=OLD_TREE` imports the tuner package from another checkout (a worktree of an older
commit), so that two versions run side by side. `--proposals` prints a digest of the configurations
proposed, to show that two versions propose the same. PostgreSQL arms start a throwaway server
(Debian's postgresql package), as the tests do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import scripted_runner

import tuner
from tuner.records import TrialResult

_LOG = os.environ.get("LOOP_SCALE_LOG")


def _log(kind: str, value: float = 0.0) -> None:
    if _LOG:
        with open(f"{_LOG}.{os.getpid()}", "a") as handle:
            handle.write(f"{kind} {time.perf_counter():.6f} {value:.6f}\n")


def _rate(config: dict[str, Any]) -> float:
    """How fast a configuration's scripted accuracy rises per epoch."""
    learning = 300 * config.get("learning_rate", 0.001) + 0.3 * bool(config.get("batch_norm"))
    return 0.6 + config.get("filters", 32) / 64 + learning


def _seconds(config: dict[str, Any]) -> float:
    """A scripted epoch's seconds: more filters and smaller batches cost more, as on a real machine."""
    return 0.5 + config.get("filters", 32) / 32 * 64 / config.get("batch_size", 64)


# The tests' scripted trainer (tests/conftest.py), made here at import so that spawned workers have it too.
_scripted = scripted_runner(speed=_rate, epoch_seconds=_seconds)


def instant(config: dict[str, Any], seed: int, on_epoch: Any, say: Any) -> TrialResult:
    """A trial that trains nothing: accuracy rises at a rate the configuration decides."""
    _log("start")
    result: TrialResult = _scripted(config, seed, on_epoch, say)
    _scripted.calls.clear()  # type: ignore[attr-defined]  # it keeps every call; a long search needs none
    result.seconds_per_epoch = _seconds(config)
    return result


def _time_sampler() -> None:
    """Time the samplers' own work (what optuna's samplers do when asked, whoever asks): the methods
    of each sampler class, counted once when one calls another."""
    import optuna

    from tuner.engines.cost_tpe import CostTPESampler

    depth = [0]

    def timed(method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    _log("sampler", time.perf_counter() - start)

        wrapper.timed = True  # type: ignore[attr-defined]
        return wrapper

    names = ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial", "after_trial")
    for cls in (optuna.samplers.RandomSampler, optuna.samplers.TPESampler, CostTPESampler):
        for name in names:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "timed", False):
                setattr(cls, name, timed(method))


if _LOG:
    _time_sampler()


def _dataset(folder: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    path = folder / "tiny.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 255, (300, 28, 28), dtype=np.uint8),
        y_train=np.arange(300) % 10,
        x_test=rng.integers(0, 255, (50, 28, 28), dtype=np.uint8),
        y_test=np.arange(50) % 10,
    )
    return path


def _blocks(log_prefix: Path, block: int) -> list[dict[str, float]]:
    """Per block of trials (in the order they started): ms per trial per worker, and the sampler's part."""
    starts: list[tuple[float, int]] = []
    asks: list[tuple[float, float]] = []  # (when, seconds) of each sampler call
    for file in log_prefix.parent.glob(f"{log_prefix.name}.*"):
        pid = int(file.suffix[1:])
        for line in file.read_text().splitlines():
            kind, moment, value = line.split()
            if kind == "start":
                starts.append((float(moment), pid))
            else:
                asks.append((float(moment), float(value)))
    starts.sort()
    gaps: list[tuple[float, float]] = []  # (start, seconds since the same worker's previous start)
    previous: dict[int, float] = {}
    for when, worker in starts:
        if worker in previous:
            gaps.append((when, when - previous[worker]))
        previous[worker] = when
    asks.sort()
    rows = []
    for first in range(0, len(gaps), block):
        chunk = gaps[first : first + block]
        low, high = chunk[0][0], chunk[-1][0]
        ask = [v for m, v in asks if low - chunk[0][1] <= m <= high]
        total = statistics.fmean(g for _, g in chunk) * 1000
        sampler = sum(ask) * 1000 / len(chunk) if ask else math.nan  # each trial is asked for once
        own = total - (0.0 if math.isnan(sampler) else sampler)
        rows.append({"from": first + 1, "to": first + len(chunk), "ms": total, "sampler": sampler, "own": own})
    return rows


def search(
    algorithm: str, workers: int, storage: str | None, trials: int, folder: Path, data: Path, fresh: bool = True
) -> Path:
    """Run one fake-trial search (a new one, or with `fresh` False a resume); returns the log prefix."""
    from tuner.search import Budget, SearchSettings, run_search

    name = f"{algorithm.replace(':', '-')}-{workers}-{'pg' if storage else 'journal'}"
    log = folder / f"log-{name}"
    if fresh:  # a new search, not a resume
        shutil.rmtree(folder / name, ignore_errors=True)
        for old in folder.glob(f"{log.name}.*"):
            old.unlink()
    os.environ["LOOP_SCALE_LOG"] = str(log)
    global _LOG
    _LOG = str(log)
    _time_sampler()
    engine, _, named = algorithm.rpartition(":")  # keras-tuner:random, or an optuna algorithm
    settings = SearchSettings(
        space="exercise3",
        dataset=str(data),
        engine=engine or "optuna",
        algorithm=named,
        budget=Budget(trials=trials),
        no_start=True,
        out=folder,
        name=name,
        storage=storage,
        workers=workers,
        gpus=(),
    )
    run_search(settings, run_trial=instant)
    return log


def sampler_cost(sizes: list[int], asks: int = 10) -> None:
    """Milliseconds per proposal of each sampler on a study already holding `size` finished trials
    (random configurations of exercise3 with scripted histories, in memory), apart from the loop."""
    import optuna

    from tuner.engines.cost_tpe import TPE_HISTORY, CostTPESampler
    from tuner.engines.optuna_engine import suggest
    from tuner.space import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space("exercise3").without_start()
    tpe: dict[str, Any] = {"seed": 0, "n_startup_trials": 5, "multivariate": True, "group": True, "constant_liar": True}
    samplers = {
        "random": lambda: optuna.samplers.RandomSampler(seed=0),
        "tpe": lambda: optuna.samplers.TPESampler(**tpe),
        "cost-tpe, every trial modelled": lambda: CostTPESampler((28, 28, 1), 10, **tpe),
        f"cost-tpe (beyond {TPE_HISTORY:,} trials: the 25 best and the latest)": lambda: CostTPESampler(
            (28, 28, 1), 10, history=TPE_HISTORY, **tpe
        ),
    }
    print("| sampler | finished trials in the study | ms per proposal |")
    print("|---|---|---|")
    for size in sizes:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        for _ in range(size):
            trial = study.ask()
            config = suggest(trial, space)
            result = instant(config, 0, lambda epoch, row: None, print)
            trial.set_user_attr("config", config)
            trial.set_user_attr("history", result.history)
            study.tell(trial, float(result.epochs_to_threshold or 21) + result.fit_seconds / 100)
        for name, make in samplers.items():
            study.sampler = make()
            start = time.perf_counter()
            for _ in range(asks):
                trial = study.ask()
                suggest(trial, space)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)  # the study keeps its size of finished trials
            print(f"| {name} | {size} | {(time.perf_counter() - start) * 1000 / asks:.1f} |", flush=True)


def kill_and_resume(trials: int, after: float, folder: Path, data: Path) -> None:
    """A `random` search killed with SIGKILL after `after` seconds, then the same search again: it
    must end with exactly `trials` finished trials, each once, every one finished before the kill kept."""
    import multiprocessing
    import signal

    from tuner.engines.study_reader import read_study

    name = "random-1-journal"
    child = multiprocessing.get_context("fork").Process(target=search, args=("random", 1, None, trials, folder, data))
    child.start()
    child.join(after)
    assert child.pid is not None and child.is_alive(), f"the search ended before the kill (exit {child.exitcode})"
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    _, records = read_study(f"journal:{folder / name / 'study.journal'}", name)
    before = {(r.trial, json.dumps(r.config, sort_keys=True)) for r in records if r.state in ("complete", "pruned")}
    start = time.perf_counter()
    search("random", 1, None, trials, folder, data, fresh=False)
    import pandas as pd

    table = pd.read_csv(folder / name / "trials.csv")
    done = table[table["state"].isin(["complete", "pruned"])]
    pairs = zip(done["trial"], done["config"], strict=True)
    after_kill = {(int(t), json.dumps(json.loads(c), sort_keys=True)) for t, c in pairs}
    took = time.perf_counter() - start
    print(
        f"killed after {after:.0f} s with {len(before)} finished trials; resumed in {took:.1f} s: "
        f"{len(done)} finished (asked {trials}), trial numbers unique: {table['trial'].is_unique}, "
        f"every trial finished before the kill kept: {before <= after_kill}",
        flush=True,
    )


def readers(run: Path, repeats: int = 3) -> None:
    """Wall seconds of the commands that read a run, each a new process as a user runs it (best of `repeats`)."""
    import subprocess

    commands = {
        "cnn-tune report RUN": ["cnn-tune", "report", str(run)],
        "cnn-tune report RUN --table summary": ["cnn-tune", "report", str(run), "--table", "summary"],
        "cnn-tune compare RUN RUN": ["cnn-tune", "compare", str(run), str(run)],
        "cnn-tune watch RUN (ended: one look)": ["cnn-tune", "watch", str(run)],
        "tuner.load_run(RUN).leaderboard(5)": [
            sys.executable,
            "-c",
            f"import tuner; tuner.load_run({str(run)!r}).leaderboard(5)",
        ],
    }
    print("| command | wall seconds (best of 3) |")
    print("|---|---|")
    for label, command in commands.items():
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            best = min(best, time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
        print(f"| `{label}` | {best:.2f} |", flush=True)


def proposals(folder: Path, name: str) -> str:
    import pandas as pd

    trials = pd.read_csv(folder / name / "trials.csv").sort_values("trial")
    text = json.dumps([json.loads(c) for c in trials["config"]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--algorithms", nargs="+", default=["random", "cost-tpe"], help="optuna's, or keras-tuner:NAME")
    parser.add_argument("--workers", nargs="+", type=int, default=[1])
    parser.add_argument("--storage", nargs="+", default=["journal"], choices=["journal", "postgres"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--proposals", action="store_true", help="print a digest of the configurations proposed")
    parser.add_argument("--sampler-at", nargs="+", type=int, default=None, help="only time the samplers at these sizes")
    parser.add_argument("--kill-after", type=float, default=None, help="only: kill -9 a random search, resume it")
    parser.add_argument("--readers", type=Path, default=None, help="only: time the commands that read this run")
    args = parser.parse_args()
    if args.sampler_at:
        sampler_cost(args.sampler_at)
        return
    if args.readers:
        readers(args.readers)
        return
    folder = args.out or Path(tempfile.mkdtemp(prefix="loop-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    data = _dataset(folder)
    if args.kill_after:
        kill_and_resume(args.trials, args.kill_after, folder, data)
        return
    server = None
    print(f"tuner from {Path(tuner.__file__).parent}; {args.trials} trials; folder {folder}", flush=True)
    print("| storage | algorithm | workers | trials | ms per trial | the sampler's | cnn-tune's own |")
    print("|---|---|---|---|---|---|---|", flush=True)
    try:
        for kind in args.storage:
            storage = None
            if kind == "postgres":
                from helpers.postgres import PostgresServer

                server = server or PostgresServer().start()
            for algorithm in args.algorithms:
                for workers in args.workers:
                    if server is not None and kind == "postgres":
                        storage = server.create_database(f"s{algorithm.replace('-', '')}{workers}")
                    start = time.perf_counter()
                    log = search(algorithm, workers, storage, args.trials, folder, data)
                    wall = time.perf_counter() - start
                    for row in _blocks(log, args.block):
                        sampler = "-" if math.isnan(row["sampler"]) else f"{row['sampler']:.1f}"
                        print(
                            f"| {kind} | {algorithm} | {workers} | {row['from']}-{row['to']} | {row['ms']:.1f} "
                            f"| {sampler} | {row['own']:.1f} |",
                            flush=True,
                        )
                    name = f"{algorithm.replace(':', '-')}-{workers}-{'pg' if storage else 'journal'}"
                    digest = f", proposals {proposals(folder, name)}" if args.proposals else ""
                    print(f"<!-- {kind} {algorithm} {workers} workers: {wall:.1f} s wall{digest} -->", flush=True)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
