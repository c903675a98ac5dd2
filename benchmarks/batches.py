"""An epoch fed from arrays in memory (Keras batches them) against one fed by `Batches` of the mapped
cache (tuner.training.batches), side by side, on one backend.

    KERAS_BACKEND=tensorflow python benchmarks/batches.py FOLDER [--size 28] [--color grayscale] [--rounds 3]

loads FOLDER both ways (decoded into the cache, and copied into arrays as runs before the cache
trained), builds the `convnet` family's model for it (two blocks of 16 filters, GAP head), and
times one epoch of each, alternating, `--rounds` times; prints the median seconds of each and their
ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tuner.data import load_dataset
from tuner.training.backend import active_backend, keras
from tuner.training.batches import fit_inputs
from tuner.training.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--color", default="grayscale")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    options = parser.parse_args()
    size = (options.size, options.size)
    batched = load_dataset(options.folder, color=options.color, image_size=size)
    memory = load_dataset(options.folder, color=options.color, image_size=size, images="memory")
    config = {"family": "convnet", "blocks": 2, "filters": 16, "head": "gap", "dense_layers": 0}
    times: dict[str, list[float]] = {"arrays": [], "batches": []}
    for _ in range(options.rounds):
        for name, data in (("arrays", memory), ("batches", batched)):
            keras.utils.set_random_seed(0)
            model = build_model(config, data.input_shape, data.num_classes, scale=data.scale)
            inputs = fit_inputs(data, options.batch_size, seed=0)
            model.fit(**{**inputs, "validation_data": None}, epochs=1, verbose=0)  # compiled and warm
            start = time.perf_counter()
            model.fit(**{**inputs, "validation_data": None}, epochs=1, verbose=0)
            times[name].append(time.perf_counter() - start)
    arrays, batches = statistics.median(times["arrays"]), statistics.median(times["batches"])
    print(
        f"{active_backend()}: {len(batched.y_train):,} images {batched.input_shape}, batch {options.batch_size}: "
        f"arrays {arrays:.2f} s, batches {batches:.2f} s an epoch (median of {options.rounds}); "
        f"batches / arrays = {batches / arrays:.2f}x"
    )


if __name__ == "__main__":
    main()
