"""The model family's hyperparameters and its layer plan, computed without TensorFlow.

The plan is the single description of a model: the Keras builder turns it into
layers, the constraint checks count its layers and parameters before any
training, and the summary view prints it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from tuner.training.schedules import DEFAULT_EPOCHS, SCHEDULES

__all__ = [
    "HYPERPARAMETERS",
    "HyperparameterType",
    "LayerSpec",
    "hyperparameter_type",
    "layer_plan",
    "plan_counts",
    "plan_work",
    "summary_rows",
]


@dataclass(frozen=True)
class HyperparameterType:
    """What values one hyperparameter of the model family accepts."""

    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    high_open: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""

    def check(self, value: Any) -> str | None:
        """Return why `value` is not acceptable, or None when it is."""
        if self.kind is bool:
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if self.kind is str:
            if not isinstance(value, str) or value not in self.choices:
                return f"must be one of {', '.join(self.choices)}, got {value!r}"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {value!r}"
        if self.kind is int and not float(value).is_integer():
            return f"must be a whole number, got {value!r}"
        if self.low is not None and value < self.low:
            return f"must be at least {self.low:g}, got {value!r}"
        if self.high is not None:
            if self.high_open and value >= self.high:
                return f"must be below {self.high:g}, got {value!r}"
            if not self.high_open and value > self.high:
                return f"must be at most {self.high:g}, got {value!r}"
        return None


ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid")
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")

HYPERPARAMETERS: dict[str, HyperparameterType] = {
    "family": HyperparameterType(
        str,
        "cnn",
        choices=("cnn", "convnet"),
        doc="cnn: Conv2D(+MaxPooling2D) layers; convnet: VGG blocks of two Conv2D (same padding) and a pool",
    ),
    "blocks": HyperparameterType(int, 3, 1, 8, doc="convnet: blocks, filters doubling per block"),
    "head": HyperparameterType(
        str, "gap", choices=("gap", "flatten"), doc="convnet: GlobalAveragePooling2D or Flatten before the Dense layers"
    ),
    "lr_annealing": HyperparameterType(bool, False, doc="divide the learning rate by 10 when validation loss stalls"),
    "lr_patience": HyperparameterType(int, 2, 1, 50, doc="epochs without a better validation loss before that"),
    "lr_schedule": HyperparameterType(
        str,
        "constant",
        choices=SCHEDULES,
        doc="the learning rate over training: constant, cosine to zero, one_cycle (warm-up, then cosine), step",
    ),
    "schedule_epochs": HyperparameterType(
        int, 0, 0, 1000, doc="the schedule's horizon in epochs (0: every epoch); after it the rate stays at its floor"
    ),
    "batch_norm": HyperparameterType(bool, False, doc="BatchNormalization after every Conv2D"),
    "conv_layers": HyperparameterType(int, 1, 0, 8, doc="number of Conv2D layers"),
    "filters": HyperparameterType(int, 32, 1, 4096, doc="filters of every Conv2D layer"),
    "kernel_size": HyperparameterType(int, 3, 1, 15, doc="Conv2D kernel is kernel_size x kernel_size"),
    "padding": HyperparameterType(str, "valid", choices=("valid", "same"), doc="Conv2D padding"),
    "pooling": HyperparameterType(
        str,
        "every",
        choices=("every", "last", "none"),
        doc="MaxPooling2D after every Conv2D, only after the last one, or none",
    ),
    "pool_size": HyperparameterType(int, 2, 1, 8, doc="MaxPooling2D window and stride"),
    "dense_layers": HyperparameterType(int, 1, 0, 8, doc="hidden Dense layers after Flatten"),
    "dense_units": HyperparameterType(int, 128, 1, 65536, doc="units of every hidden Dense layer"),
    "dropout": HyperparameterType(float, 0.0, 0.0, 1.0, high_open=True, doc="dropout after each hidden Dense"),
    "activation": HyperparameterType(str, "relu", choices=ACTIVATIONS, doc="activation of hidden layers"),
    "optimizer": HyperparameterType(str, "adam", choices=OPTIMIZERS, doc="Keras optimizer"),
    "learning_rate": HyperparameterType(float, 1e-3, 1e-7, 1.0, doc="optimizer learning rate"),
    "batch_size": HyperparameterType(int, 32, 1, 65536, doc="training batch size"),
    "epochs": HyperparameterType(int, DEFAULT_EPOCHS, 1, 1000, doc="most epochs a trial trains"),
    # Augmentation: Keras's random preprocessing layers at the model's input, active in training only
    # (evaluation and the saved model's predictions see the images as they are).
    "augment_flip": HyperparameterType(
        str, "none", choices=FLIPS, doc="RandomFlip: none, horizontal, vertical or horizontal_and_vertical"
    ),
    "augment_rotation": HyperparameterType(
        float, 0.0, 0.0, 0.5, doc="RandomRotation: up to this fraction of a full turn either way (0: none)"
    ),
    "augment_zoom": HyperparameterType(
        float, 0.0, 0.0, 1.0, high_open=True, doc="RandomZoom: in or out by up to this fraction (0: none)"
    ),
    "augment_translation": HyperparameterType(
        float, 0.0, 0.0, 1.0, high_open=True, doc="RandomTranslation: up to this fraction of the height and width"
    ),
    "augment_contrast": HyperparameterType(
        float, 0.0, 0.0, 1.0, high_open=True, doc="RandomContrast: contrast scaled by a factor within 1 +- this"
    ),
}

_PER_LAYER = re.compile(r"^filters_([1-9])$")


def hyperparameter_type(name: str) -> HyperparameterType | None:
    """The type of a known hyperparameter, including per-layer `filters_K`."""
    if name in HYPERPARAMETERS:
        return HYPERPARAMETERS[name]
    if _PER_LAYER.match(name):
        return HYPERPARAMETERS["filters"]
    return None


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the plan: its Keras class, arguments, output shape and parameter count."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    output_shape: tuple[int, ...] = ()
    params: int = 0


def _filters(config: dict[str, Any], layer: int) -> int:
    return int(config.get(f"filters_{layer}", config.get("filters", HYPERPARAMETERS["filters"].default)))


def layer_plan(
    config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int, scale: float | None = None
) -> list[LayerSpec]:
    """The layers `config` builds on images of `input_shape`, their pixels multiplied by `scale`
    first when given (bytes to [0, 1]); ValueError if the image shrinks to nothing."""
    c = {name: t.default for name, t in HYPERPARAMETERS.items()} | config
    rescale = [LayerSpec("Rescaling", {"scale": scale}, tuple(input_shape))] if scale is not None else []
    augment = rescale + _augmentation(c, input_shape)
    if c["family"] == "convnet":
        return augment + _convnet_plan(c, input_shape, num_classes)
    height, width, channels = input_shape
    plan: list[LayerSpec] = augment
    conv_layers = int(c["conv_layers"])
    for layer in range(1, conv_layers + 1):
        filters, kernel = _filters(c, layer), int(c["kernel_size"])
        if c["padding"] == "valid":
            height, width = height - kernel + 1, width - kernel + 1
        if height < 1 or width < 1:
            raise ValueError(
                f"Conv2D {layer} with kernel {kernel} leaves no pixels of the image; "
                "use fewer conv layers, a smaller kernel_size or padding: same"
            )
        params = (kernel * kernel * channels + 1) * filters
        channels = filters
        plan.append(
            LayerSpec(
                "Conv2D",
                {"filters": filters, "kernel_size": kernel, "padding": c["padding"], "activation": c["activation"]},
                (height, width, channels),
                params,
            )
        )
        if c["batch_norm"]:  # a scale, an offset and the two moving statistics per channel
            plan.append(LayerSpec("BatchNormalization", {}, (height, width, channels), 4 * channels))
        if c["pooling"] == "every" or (c["pooling"] == "last" and layer == conv_layers):
            size = int(c["pool_size"])
            height, width = height // size, width // size
            if height < 1 or width < 1:
                raise ValueError(
                    f"MaxPooling2D after Conv2D {layer} leaves no pixels of the image; "
                    "use fewer conv layers or pooling: last"
                )
            plan.append(LayerSpec("MaxPooling2D", {"pool_size": size}, (height, width, channels)))
    return _head(c, plan, (height, width, channels), num_classes, "Flatten")


def _augmentation(c: dict[str, Any], input_shape: tuple[int, ...]) -> list[LayerSpec]:
    """The random preprocessing layers the configuration asks for, in Keras's usual order: flip,
    rotation, zoom, translation, contrast. They keep the image's shape and have no weights."""
    shape = tuple(input_shape)
    plan = []
    if c["augment_flip"] != "none":
        plan.append(LayerSpec("RandomFlip", {"mode": c["augment_flip"]}, shape))
    for name, kind, args in (
        ("augment_rotation", "RandomRotation", lambda f: {"factor": f}),
        ("augment_zoom", "RandomZoom", lambda f: {"height_factor": (-f, f)}),  # width follows: the aspect kept
        ("augment_translation", "RandomTranslation", lambda f: {"height_factor": f, "width_factor": f}),
        ("augment_contrast", "RandomContrast", lambda f: {"factor": f, "value_range": (0.0, 1.0)}),
    ):
        factor = float(c[name])
        if factor > 0:
            plan.append(LayerSpec(kind, args(factor), shape))
    return plan


def _convnet_plan(c: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> list[LayerSpec]:
    """VGG style: blocks of two Conv2D(3x3, same padding) and a MaxPooling2D(2), filters doubling per block."""
    height, width, channels = input_shape
    plan: list[LayerSpec] = []
    filters = int(c["filters"])
    for block in range(1, int(c["blocks"]) + 1):
        for _ in range(2):
            args = {"filters": filters, "kernel_size": 3, "padding": "same", "activation": c["activation"]}
            plan.append(LayerSpec("Conv2D", args, (height, width, filters), (9 * channels + 1) * filters))
            channels = filters
        height, width = height // 2, width // 2
        if height < 1 or width < 1:
            raise ValueError(
                f"block {block} pools the {input_shape[0]}x{input_shape[1]} image to nothing; "
                "use fewer blocks or a larger data.image_size"
            )
        plan.append(LayerSpec("MaxPooling2D", {"pool_size": 2}, (height, width, channels)))
        filters *= 2
    head = "GlobalAveragePooling2D" if c["head"] == "gap" else "Flatten"
    return _head(c, plan, (height, width, channels), num_classes, head)


def _head(
    c: dict[str, Any], plan: list[LayerSpec], shape: tuple[int, int, int], num_classes: int, kind: str
) -> list[LayerSpec]:
    """Flatten (or global average pooling), the hidden Dense layers with dropout, the softmax."""
    height, width, channels = shape
    flat = channels if kind == "GlobalAveragePooling2D" else height * width * channels
    plan.append(LayerSpec(kind, {}, (flat,)))
    for _ in range(int(c["dense_layers"])):
        units = int(c["dense_units"])
        plan.append(LayerSpec("Dense", {"units": units, "activation": c["activation"]}, (units,), (flat + 1) * units))
        flat = units
        if float(c["dropout"]) > 0:
            plan.append(LayerSpec("Dropout", {"rate": float(c["dropout"])}, (units,)))
    plan.append(
        LayerSpec("Dense", {"units": num_classes, "activation": "softmax"}, (num_classes,), (flat + 1) * num_classes)
    )
    return plan


def plan_counts(plan: list[LayerSpec]) -> dict[str, int]:
    """The quantities constraints speak of: conv_layers, pool_layers, dense_layers, params."""
    return {
        "conv_layers": sum(layer.kind == "Conv2D" for layer in plan),
        "pool_layers": sum(layer.kind == "MaxPooling2D" for layer in plan),
        "dense_layers": sum(layer.kind == "Dense" for layer in plan) - 1,
        "params": sum(layer.params for layer in plan),
    }


def plan_work(plan: list[LayerSpec]) -> dict[str, int]:
    """What one image costs the plan's forward pass: multiply-adds of the Conv2D and Dense layers, and
    the values batch normalisation reads (a pass over the convolution's output, bound by memory)."""
    macs = normalised = 0
    for layer in plan:
        if layer.kind == "Conv2D":  # each weight meets every output position once
            macs += layer.params * layer.output_shape[0] * layer.output_shape[1]
        elif layer.kind == "Dense":
            macs += layer.params
        elif layer.kind == "BatchNormalization":
            normalised += math.prod(layer.output_shape)
    return {"macs": macs, "normalised": normalised}


def summary_rows(plan: list[LayerSpec]) -> list[dict[str, Any]]:
    """`model.summary()` as data: layer, output shape, parameter count (the batch dimension omitted)."""
    counts: dict[str, int] = {}
    rows = []
    for layer in plan:
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        name = f"{layer.kind.lower()}_{counts[layer.kind]}"
        rows.append(
            {
                "layer": f"{name} ({layer.kind})",
                "output_shape": str((None, *layer.output_shape)),
                "params": layer.params,
            }
        )
    return rows
