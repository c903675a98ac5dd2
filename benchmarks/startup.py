"""Start-up time of the commands that never train: `cnn-tune --help`, `spaces`, `report RUN`.

python benchmarks/startup.py [RUN] [--repeats 5]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    run = next((a for a in sys.argv[1:] if not a.startswith("--")), "reports/exercise3-mnist")
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5
    exe = shutil.which("cnn-tune") or "cnn-tune"
    for command in ([exe, "--help"], [exe, "spaces"], [exe, "report", run, "--format", "csv"]):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        print(f"{' '.join(['cnn-tune', *command[1:]])}: median {statistics.median(times):.2f} s over {repeats}")


if __name__ == "__main__":
    main()
