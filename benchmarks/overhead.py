"""Overhead: epoch time of one configuration inside cnn-tune vs a plain `model.fit` of the same model.

    CNN_TUNE_DATA=../shared/datasets python benchmarks/overhead.py [--repeats 3] [--epochs 3] [--batch 128]
        [--steps-per-execution K]

The arms are alternated (A B C A B C ...) in one process on the same data, so machine noise hits
all; the first epoch of each fit (graph tracing) is left out. Arms: the plain script as the course
writes it (steps_per_execution 1), and with K > 1 also the plain script with K, then the cnn-tune
trial (with K). Prints the median seconds per epoch of each and the ratios (goal: cnn-tune / the
plain script of the same model <= 1.0).
"""

from __future__ import annotations

import argparse
import statistics
import time

from backends import REFERENCE  # the course's model, as benchmarks/backends.py trains it

from tuner.data import load_dataset
from tuner.training.backend import keras
from tuner.training.options import TrainingOptions
from tuner.training.trainer import train_trial


def plain_fit(data, batch: int, epochs: int, seed: int, spe: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    """What a learner writes: the course's model, model.fit on the arrays."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=spe,
    )

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            seconds.append(time.perf_counter() - self.start)

    seconds: list[float] = []
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=batch,
        epochs=epochs,
        validation_data=(data.x_val, data.y_val),
        callbacks=[Timer()],
        verbose=0,
    )
    return seconds


def tuner_fit(data, batch: int, epochs: int, seed: int, spe: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    config = {**REFERENCE, "batch_size": batch, "epochs": epochs}
    options = TrainingOptions(steps_per_execution=spe)
    result = train_trial(config, data, seed=seed, say=lambda text: None, options=options)
    return [row["seconds"] for row in result.history]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps-per-execution", type=int, default=1)
    args = parser.parse_args()
    data = load_dataset("mnist")
    spe = args.steps_per_execution
    arms = [("plain model.fit", plain_fit, 1)]
    if spe > 1:
        arms.append((f"plain model.fit, steps_per_execution {spe}", plain_fit, spe))
    arms.append((f"cnn-tune trial, steps_per_execution {spe}", tuner_fit, spe))
    times: dict[str, list[float]] = {name: [] for name, _, _ in arms}
    for repeat in range(args.repeats):
        for name, fit, k in arms:
            epochs = fit(data, args.batch, args.epochs, seed=repeat, spe=k)
            times[name] += epochs[1:]  # the first epoch traces the graph
            print(f"repeat {repeat + 1} {name}: " + " ".join(f"{s:.2f}" for s in epochs), flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nbatch {args.batch}, {args.repeats} repeats x {args.epochs} epochs, first epoch of each left out")
    for name, value in medians.items():
        print(f"median s/epoch, {name}: {value:.3f}")
    names = list(medians)
    ours, same, course = medians[names[-1]], medians[names[-2]], medians[names[0]]
    print(f"ratio cnn-tune / plain model.fit of the same model: {ours / same:.3f}")
    if spe > 1:
        print(f"ratio cnn-tune / the course's plain model.fit (steps_per_execution 1): {ours / course:.3f}")


if __name__ == "__main__":
    main()
