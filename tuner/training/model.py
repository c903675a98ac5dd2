"""A resolved configuration (a plain dict) becomes a compiled Keras model."""

from __future__ import annotations

from typing import Any

from tuner.errors import TrialFailed
from tuner.space.rules import Constraint
from tuner.training.architecture import HYPERPARAMETERS, layer_plan
from tuner.training.backend import keras
from tuner.training.schedules import keras_schedule

__all__ = ["build_model", "check_model", "model_counts"]

_LAYERS = {
    "Rescaling": keras.layers.Rescaling,
    "Conv2D": keras.layers.Conv2D,
    "MaxPooling2D": keras.layers.MaxPooling2D,
    "Flatten": keras.layers.Flatten,
    "GlobalAveragePooling2D": keras.layers.GlobalAveragePooling2D,
    "Dense": keras.layers.Dense,
    "Dropout": keras.layers.Dropout,
    "BatchNormalization": keras.layers.BatchNormalization,
    "RandomFlip": keras.layers.RandomFlip,
    "RandomRotation": keras.layers.RandomRotation,
    "RandomZoom": keras.layers.RandomZoom,
    "RandomTranslation": keras.layers.RandomTranslation,
    "RandomContrast": keras.layers.RandomContrast,
}
_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def build_model(
    config: dict[str, Any],
    input_shape: tuple[int, ...],
    num_classes: int,
    jit_compile: bool = False,
    steps_per_epoch: int = 1,
    steps_per_execution: int = 1,
    scale: float | None = None,
    schedule: bool = True,
) -> Any:
    """Build and compile the model `config` describes (the step XLA-compiled if asked, its learning
    rate on the configured schedule over `steps_per_epoch`, its pixels multiplied by `scale` first
    when given); TrialFailed if it cannot be built. With `schedule` False the optimizer holds the
    configured rate as a variable and the program that trains it applies the schedule (fused.py)."""
    try:
        plan = layer_plan(config, input_shape, num_classes, scale)
    except ValueError as exc:
        raise TrialFailed(str(exc)) from None
    model = keras.Sequential([keras.Input(shape=input_shape)] + [_LAYERS[spec.kind](**spec.args) for spec in plan])
    optimizer = config.get("optimizer", HYPERPARAMETERS["optimizer"].default)
    settings = {"learning_rate": HYPERPARAMETERS["learning_rate"].default, **config}
    rate = keras_schedule(settings, max(1, steps_per_epoch)) if schedule else float(settings["learning_rate"])
    model.compile(
        optimizer=_OPTIMIZERS[optimizer](learning_rate=rate),
        steps_per_execution=steps_per_execution,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


def model_counts(model: Any) -> dict[str, int]:
    """Count what the built Keras model really holds, layer by layer."""
    layers = model.layers
    return {
        "conv_layers": sum(isinstance(layer, keras.layers.Conv2D) for layer in layers),
        "pool_layers": sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in layers),
        "dense_layers": sum(isinstance(layer, keras.layers.Dense) for layer in layers) - 1,
        "params": int(model.count_params()),
    }


def check_model(model: Any, constraints: tuple[Constraint, ...], epochs: int) -> dict[str, int]:
    """Check the built model against the constraints; TrialFailed naming the broken rule."""
    counts = model_counts(model) | {"epochs": epochs}
    for rule in constraints:
        if not rule.holds(counts[rule.quantity]):
            raise TrialFailed(f"the built model breaks `{rule}`: it has {rule.quantity}={counts[rule.quantity]}")
    return counts
