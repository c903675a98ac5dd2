"""One host of a distributed search: host_search.py OUT TRIALS STORAGE NAME.

Its own run folder under OUT, the study in STORAGE; the scripted trainer sleeps per epoch and writes
"PID TRIAL-CONFIG EPOCH" lines to OUT/progress, so a test can kill it while a trial is running.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import make_settings, scripted_runner

from tuner.errors import raise_terminated
from tuner.search import run_search

inner = scripted_runner(speed=lambda c: c["filters"] / 64)
out = Path(sys.argv[1])


def slow(config, seed, on_epoch, say):  # type: ignore[no-untyped-def]
    def sleepy(epoch, logs):  # type: ignore[no-untyped-def]
        with open(out / "progress", "a") as progress:
            progress.write(f"{os.getpid()} {seed} {epoch}\n")
        time.sleep(float(os.environ.get("EPOCH_SLEEP", "0.3")))
        on_epoch(epoch, logs)

    return inner(config, seed, sleepy, say)


signal.signal(signal.SIGTERM, raise_terminated)
outcome = run_search(
    make_settings(
        space="exercise3",
        out=out,
        trials=int(sys.argv[2]),
        storage=sys.argv[3],
        name=sys.argv[4],
        algorithm="random",
        pruner="none",
    ),
    run_trial=slow,
)
print("done", len(outcome.records))
sys.exit(outcome.exit_code)
