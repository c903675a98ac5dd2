#!/usr/bin/env bash
# The three runs of issue 28 as a new user types them, on full MNIST; logs and tables under $1.
# usage: CNN_TUNE_DATA=../shared/datasets benchmarks/trust_runs.sh reports/trust/runs
set -uo pipefail
out=${1:?give the output folder}
mkdir -p "$out"
say() { echo "\$ $*" ; }
run() { say "$@"; /usr/bin/time -f "(%e s wall)" "$@"; echo "exit $?"; echo; }
{
  run cnn-tune run --space exercise3 --no-start --trials 1 --set filters=32 --set kernel_size=3 \
    --set dense_units=128 --set dropout=0 --set learning_rate=0.001 --set batch_size=32 \
    --set lr_schedule=constant --set batch_norm=false --out "$out" --name course-answer
  run cnn-tune run --space reports/trust/cosine4.yaml --trials 1 --out "$out" --name cosine4
  run cnn-tune run --space exercise3 --train-limit 2000 --trials 3 --max-epochs 3 --out "$out" --name quick-look
  run cnn-tune reproduce "$out/quick-look"
  run cnn-tune inspect "$out/quick-look" --images 0,1
  ls -l "$out"/quick-look/trials/*/model.keras
} 2>&1 | grep -v "WARNING:tensorflow\|retracing" | tee "$out/log.txt"
