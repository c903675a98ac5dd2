"""A search in WORKERS processes with a scripted, sleeping trainer: parallel_search.py OUT TRIALS WORKERS [FOUND].

Each trial appends its process id to OUT/pids. Module-level functions only: workers are spawned.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import make_settings, scripted_runner

from tuner.search import run_search

inner = scripted_runner(speed=lambda c: c["filters"] / 64)


def sleepy(config, seed, on_epoch, say):  # type: ignore[no-untyped-def]
    with open(Path(os.environ["PIDS_FILE"]), "a") as pids:
        pids.write(f"{os.getpid()}\n")

    def slow(epoch, logs):  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # enough work that no worker, however late it starts, finds none left
        on_epoch(epoch, logs)

    return inner(config, seed, slow, say)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    os.environ["PIDS_FILE"] = str(out / "pids")
    settings = make_settings(
        space="exercise3",
        out=out,
        trials=int(sys.argv[2]),
        workers=int(sys.argv[3]),
        pruner="none",
        stop_when_found=len(sys.argv) > 4,
        algorithm=os.environ.get("ALGORITHM"),
    )
    outcome = run_search(settings, run_trial=sleepy)
    print("done", len(outcome.records))
