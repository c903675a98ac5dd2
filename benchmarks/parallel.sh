#!/usr/bin/env bash
# Parallel trials on this machine: 1 worker with every core vs N workers sharing them, the same
# wall-clock budget each, on a stratified MNIST subset (so that many trials fit the budget).
#   CNN_TUNE_DATA=../shared/datasets benchmarks/parallel.sh [SECONDS] [WORKERS] [OUT]
set -euo pipefail
budget=${1:-600}
workers=${2:-2}
out=${3:-/tmp/cnn-tune-parallel}
rm -rf "$out"
common=(--space exercise3 --train-limit 12000 --pruner none --max-epochs 5 --trials 1000 --timeout "$budget" --out "$out" -q)
cnn-tune run "${common[@]}" --workers 1 --name one-worker
cnn-tune run "${common[@]}" --workers "$workers" --name "$workers-workers"
python - "$out" "$workers" "$budget" <<'PY'
import sys
import pandas as pd
out, workers, budget = sys.argv[1], sys.argv[2], float(sys.argv[3])
for name in ("one-worker", f"{workers}-workers"):
    t = pd.read_csv(f"{out}/{name}/trials.csv")
    done = t[t.state.isin(["complete", "pruned"])]
    span = (pd.to_datetime(t.finished).max() - pd.to_datetime(t.started).min()).total_seconds()
    print(f"{name}: {len(done)} trials, {int(done.epochs_run.sum())} epochs in {span:.0f} s: "
          f"{len(done) / span * 3600:.1f} trials/hour, {done.epochs_run.sum() / span * 3600:.0f} epochs/hour")
PY
