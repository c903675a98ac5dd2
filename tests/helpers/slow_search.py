"""A search whose scripted trainer sleeps per epoch, for signal tests: slow_search.py OUT TRIALS [ENGINE].

Each epoch it writes "TRIAL EPOCH" to OUT/progress, so a test can signal while a trial is running.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import make_settings, scripted_runner

from tuner.errors import raise_terminated
from tuner.search import run_search

ENGINE = sys.argv[3] if len(sys.argv) > 3 else "optuna"
inner = scripted_runner(speed=lambda c: c["filters"] / 32)


progress = Path(sys.argv[1]) / "progress"


def slow(config, seed, on_epoch, say):  # type: ignore[no-untyped-def]
    number = len(inner.calls)

    def sleepy(epoch, logs):  # type: ignore[no-untyped-def]
        progress.write_text(f"{number} {epoch}")
        time.sleep(0.1)
        on_epoch(epoch, logs)

    return inner(config, seed, sleepy, say)


signal.signal(signal.SIGTERM, raise_terminated)
# A suite started in the background (`cmd &` in a script) passes SIGINT down as ignored, and Python then
# installs no Ctrl-C handler; this search must see the test's SIGINT as Ctrl-C however it was started.
signal.signal(signal.SIGINT, signal.default_int_handler)
outcome = run_search(
    make_settings(
        space="exercise3",
        out=Path(sys.argv[1]),
        trials=int(sys.argv[2]),
        engine=ENGINE,
        algorithm="random" if ENGINE == "keras-tuner" else None,
        pruner="none",
    ),
    run_trial=slow,
)
print("done", len(outcome.records))
sys.exit(outcome.exit_code)
