#!/usr/bin/env bash
# Engines side by side on exercise3, full MNIST, the same wall-clock budget each, run one after
# another (2 cores: running them together would make each slower by an unknown amount).
#   CNN_TUNE_DATA=../shared/datasets [SEED=0] [ARMS="default tpe-none kt-random kt-hyperband"] \
#     benchmarks/engines_exercise3.sh [SECONDS] [OUT]
# Writes OUT/<arm>/ and OUT/compare.md (default: 900 s each, reports/engines-exercise3).
# The arms other than `default` stand for the loops a user would write by hand, so they do not
# start from the space's `start` configurations (--no-start); `default-nostart` shows what the
# default finds without them.
set -euo pipefail
budget=${1:-900}
out=${2:-reports/engines-exercise3}
seed=${SEED:-0}
arms=${ARMS:-"default tpe-none kt-random kt-hyperband"}
common=(--space exercise3 --timeout "$budget" --trials 1000 --seed "$seed" --out "$out" -q)
run() { echo "== $*"; local start=$SECONDS; cnn-tune run "${common[@]}" "$@"; echo "$((SECONDS - start)) s wall"; }
folders=()
for arm in $arms; do
  case $arm in
    default) run --name default ;;
    default-nostart) run --no-start --name default-nostart ;;
    tpe-none) run --no-start --engine optuna --algorithm tpe --pruner none --name optuna-tpe-none ;;
    kt-random) run --no-start --engine keras-tuner --algorithm random --name keras-tuner-random ;;
    kt-hyperband) run --no-start --engine keras-tuner --algorithm hyperband --name keras-tuner-hyperband ;;
    *) echo "unknown arm $arm (default, default-nostart, tpe-none, kt-random, kt-hyperband)" >&2; exit 2 ;;
  esac
done
for folder in "$out"/*/; do
  [[ -f $folder/run.json ]] && folders+=("${folder%/}")
done
cnn-tune compare "${folders[@]}" --format md --output "$out/compare.md"
cat "$out/compare.md"
