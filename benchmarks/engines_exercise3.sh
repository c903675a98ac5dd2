#!/usr/bin/env bash
# Engines side by side on exercise3, full MNIST, the same wall-clock budget each, run one after
# another (2 cores: running them together would make each slower by an unknown amount).
#   CNN_TUNE_DATA=../shared/datasets benchmarks/engines_exercise3.sh [SECONDS] [OUT]
# Writes OUT/<run>/ and OUT/compare.md (default: 900 s each, reports/engines-exercise3).
set -euo pipefail
budget=${1:-900}
out=${2:-reports/engines-exercise3}
common=(--space exercise3 --timeout "$budget" --trials 1000 --seed 0 --out "$out" -q)
run() { echo "== $*"; local start=$SECONDS; cnn-tune run "${common[@]}" "$@"; echo "$((SECONDS - start)) s wall"; }
run --engine optuna --algorithm tpe --pruner exact --name optuna-tpe-exact
run --engine optuna --algorithm tpe --pruner none --name optuna-tpe-none
run --engine keras-tuner --algorithm random --name keras-tuner-random
run --engine keras-tuner --algorithm hyperband --name keras-tuner-hyperband
cnn-tune compare "$out"/optuna-tpe-exact "$out"/optuna-tpe-none "$out"/keras-tuner-random \
  "$out"/keras-tuner-hyperband --format md --output "$out/compare.md"
cat "$out/compare.md"
