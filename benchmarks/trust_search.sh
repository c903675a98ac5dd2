#!/usr/bin/env bash
# The search benchmark's eighth run (cost-tpe, no start configurations, 900 s per seed, best epochs) and
# the ninth run's seeds 2, 3, 5 (seconds to a first success) at an older commit and now, old and new
# running at the same time, each pinned to one of the two cores, so that both meet the same machine.
#   git worktree add /tmp/old be993c1
#   CNN_TUNE_DATA=$PWD/../shared/datasets benchmarks/trust_search.sh /tmp/old /tmp/search
# Run from the repository with its virtual environment active; `old` imports the worktree's tuner.
# One core each halves what a 900 s budget buys against the committed runs (made one arm at a time on
# both cores): compare old with new here, not with those.
set -uo pipefail
tree=${1:?give the older worktree}; out=${2:?give an output folder}
mkdir -p "$out"; cd "$out"
old() { PYTHONPATH="$tree" taskset -c 0 python -c "import sys; from tuner.cli import entry; sys.argv[0]='cnn-tune'; entry()" "$@"; }
new() { taskset -c 1 cnn-tune "$@"; }
pair() {  # pair NAME ARGS...: the same command old and new at once; wall seconds of each
  local name=$1; shift
  (s=$SECONDS; old run "$@" --out "$out/old" --name "$name" -q >"$out/old-$name.log" 2>&1; echo "$name old: $((SECONDS - s)) s wall") &
  (s=$SECONDS; new run "$@" --out "$out/new" --name "$name" -q >"$out/new-$name.log" 2>&1; echo "$name new: $((SECONDS - s)) s wall") &
  wait
}
for s in 0 1 2; do
  pair "eighth-seed-$s" --space exercise3 --no-start --timeout 900 --trials 1000 --seed "$s"
done
for s in 2 3 5; do
  pair "ninth-seed-$s" --space exercise3 --no-start --stop-when-found --timeout 900 --trials 1000 --seed "$s"
done
