#!/usr/bin/env bash
# The default run and the ninth run's seed 0 at an older commit and now, one after the other, then one
# configuration's epochs old and new alternating three times (the machine's noise beside the change).
#   git worktree add /tmp/old be993c1
#   CNN_TUNE_DATA=$PWD/../shared/datasets benchmarks/trust_side_by_side.sh /tmp/old /tmp/sbs
# Run from the repository with its virtual environment active; `old` imports the worktree's tuner.
set -uo pipefail
tree=${1:?give the older worktree}; out=${2:?give an output folder}
rm -rf "$out"; mkdir -p "$out"; cd "$out"
old() { PYTHONPATH="$tree" python -c "import sys; from tuner.cli import entry; sys.argv[0]='cnn-tune'; entry()" "$@"; }
new() { cnn-tune "$@"; }
for who in old new; do
  start=$SECONDS; $who run --space exercise3 --out "$out/$who" -q; echo "default $who: $((SECONDS - start)) s wall"
done
for who in old new; do
  start=$SECONDS
  $who run --space exercise3 --no-start --stop-when-found --timeout 900 --trials 1000 --seed 0 \
    --out "$out/$who-first" --name first -q
  echo "ninth seed 0 $who: $((SECONDS - start)) s wall"
done
pins=(--set filters=16 --set kernel_size=5 --set batch_size=128 --set lr_schedule=constant --set batch_norm=true
  --set dense_units=448 --set dropout=0 --set learning_rate=0.0024)
for i in 1 2 3; do for who in old new; do
  $who run --space exercise3 --no-start --trials 1 "${pins[@]}" --max-epochs 3 --train-limit 20000 \
    --out "$out/ab-$who-$i" -q >/dev/null 2>&1
  python -c "import glob, pandas as pd; h = pd.read_csv(glob.glob('$out/ab-$who-$i/*/history.csv')[0]); print('$who', $i, [round(s, 2) for s in h.seconds])"
done; done
