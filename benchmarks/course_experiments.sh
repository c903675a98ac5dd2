#!/usr/bin/env bash
# The course's experiments, one cnn-tune command per row of its table (reports/course-experiments.md).
# Full Fashion-MNIST (apt-get install dataset-fashion-mnist) and full MNIST (CNN_TUNE_DATA=../shared/datasets).
# Every row trains as the course did: batch 32, Adam 1e-3, the stated epochs; 10% of the training images are
# held out for validation (fixed seed), test accuracy is on the 10,000 test images.
#
#   CNN_TUNE_DATA=../shared/datasets benchmarks/course_experiments.sh [OUT]
set -euo pipefail
out=${1:-reports/course-experiments}
run() { echo "+ cnn-tune run $* --out $out -q"; /usr/bin/time -f "%e s wall" cnn-tune run "$@" --out "$out" -q; }

run --space dnn-baseline --set dense_units=128 --set epochs=5 --trials 1 --name dnn-baseline
run --space course-filters --algorithm grid --name course-filters          # 16, 32, 64 filters
run --space course-depth --algorithm grid --set conv_layers=1 --set pooling=every --name course-depth-1conv
run --space course-depth --algorithm grid --set conv_layers=2 --set pooling=last --name course-depth-2conv-1pool
run --space mnist-995 --set filters=32 --set dense_units=128 --trials 1 --name mnist-995
run --space course-epochs --set epochs=20 --trials 1 --name course-epochs-20

# The VGG-style convnet on an image-folder dataset: Fashion-MNIST's test images as PNG class folders.
png=${FASHION_PNG:-/tmp/fashion-mnist-png}
[ -d "$png" ] || python benchmarks/fashion_png.py /usr/share/datasets/fashion-mnist "$png"
run --space convnet --dataset "$png" --algorithm grid --set blocks=3 --set head=gap --name convnet-fashion-png
