#!/usr/bin/env bash
# Trials per hour with 1, 2 and 4 worker processes on this machine sharing one study in PostgreSQL,
# each started as a separate `cnn-tune run` with its own run folder, the way separate hosts would be.
# A PostgreSQL server is started for the measurement (tests/helpers/postgres.py) and stopped after.
# The cores are split between the processes (CNN_TUNE_THREADS), as --workers would split them.
#
#   CNN_TUNE_DATA=../shared/datasets benchmarks/distributed.sh [SECONDS_PER_SETTING] [OUT]
set -euo pipefail
budget=${1:-180}
out=${2:-/tmp/cnn-tune-distributed}
cores=$(nproc)
rm -rf "$out" && mkdir -p "$out"
url=$(python tests/helpers/postgres.py start "$out/pg")
trap 'python tests/helpers/postgres.py stop "$out/pg"' EXIT
base=${url%/postgres}
for workers in 1 2 4; do
  db="workers$workers"
  psql -q "$url" -c "CREATE DATABASE $db"
  threads=$(( cores / workers )); [ "$threads" -ge 1 ] || threads=1
  start=$SECONDS
  for host in $(seq 1 "$workers"); do
    CNN_TUNE_THREADS=$threads cnn-tune run --space exercise3 --train-limit 6000 --max-epochs 3 \
      --storage "$base/$db" --name shared --timeout "$budget" --trials 10000 --seed 0 \
      --out "$out/host$host-of-$workers" -q > "$out/host$host-of-$workers.log" 2>&1 &
  done
  wait
  wall=$(( SECONDS - start ))
  finished=$(cnn-tune report --storage "$base/$db" --name shared --table trials --format csv \
    | python -c "import sys, pandas as pd; t = pd.read_csv(sys.stdin); print(int(t.state.isin(['complete', 'pruned']).sum()))")
  python -c "print(f'$workers worker(s) x $threads thread(s): $finished trials finished in $wall s wall, {3600 * $finished / $wall:.0f} trials/hour')"
done
