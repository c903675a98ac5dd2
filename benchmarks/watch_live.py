"""`watch`'s looks at a big run as if it were live: one Watcher's looks against a fresh look each time.

    python benchmarks/watch_live.py RUN      # e.g. the 10,000-trial run of loop_scale.py --out DIR

copies RUN to a temporary folder, marks the copy's run.json as not ended (so each look reads the
study, as for a running search) and times three looks each way; both must show the same leaderboard.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tuner.runs.watch import Watcher, snapshot


def main() -> None:
    run = Path(tempfile.mkdtemp(prefix="watch-live-")) / "run"
    shutil.copytree(Path(sys.argv[1]), run)
    record = run / "run.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "ended": None}))
    watcher = Watcher(run)
    for i in range(3):
        start = time.perf_counter()
        look = watcher.look()
        kept = time.perf_counter() - start
        start = time.perf_counter()
        fresh = snapshot(run)
        again = time.perf_counter() - start
        assert look.board["trial"].tolist() == fresh.board["trial"].tolist()
        print(f"look {i + 1}: the watcher {kept:.2f} s, a fresh look {again:.2f} s; {look.headline()}")
    shutil.rmtree(run.parent)


if __name__ == "__main__":
    main()
