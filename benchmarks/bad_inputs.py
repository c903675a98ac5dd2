"""Every malformed input of the test catalogue (tests/test_bad_inputs.py), run through the command line,
as a Markdown table: what was tried, the exit code, the one line printed, and whether a traceback showed.

    python benchmarks/bad_inputs.py > /tmp/bad_inputs.md
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import write_idx_dir
from test_bad_inputs import CASES
from test_cli import invoke


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="cnn-tune-bad-"))
    write_idx_dir(root / "data" / "mnist")
    os.environ.update({"CNN_TUNE_DATA": str(root / "data"), "CNN_TUNE_OFFLINE": "1"})
    print("| input | exit code | message (stderr, one line) | traceback | run tables left |")
    print("|---|---|---|---|---|")
    for number, (name, (make, _pattern)) in enumerate(CASES.items()):
        case = root / f"case{number}"
        case.mkdir()
        result = invoke(*make(case))
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        message = " / ".join(lines).replace("|", "\\|").replace(str(case), "TMP")
        tables = any((run.parent / "trials.csv").exists() for run in case.glob("runs/*/run.json"))
        traceback = "yes" if "Traceback" in result.output else "no"
        print(f"| {name} | {result.exit_code} | {message} | {traceback} | {'yes' if tables else 'no'} |")


if __name__ == "__main__":
    main()
