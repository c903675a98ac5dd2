"""A trial's epoch on JAX as one compiled program, compiled once per shape and kept.

Keras's JAX fit loop dispatches every training step from Python: about 0.7 ms a step on an H200,
1.2 s an epoch for the course's batch-32 model (reports/gpu.md). Here an epoch is one `lax.scan`
over its batches through the model's stateless API, with the images put on the device once per
process (on the CPU the same program is called once a step: `steps_per_call`). The model, its
optimizer and its saved `.keras` file are Keras's, as with `fit`.

The program takes as inputs what does not change shapes: every weight and optimizer slot, the
epoch's order of images, the dropout rate and the learning-rate schedule (kind, rate, horizon,
warm-up). A later trial whose layers, optimizer, batch size and data have the same shapes runs the
program the first one compiled (programs are kept per process, by `program_key`), and JAX's
persistent compilation cache keeps the compiled code across processes and runs (backend.py).

What the callbacks see is what Keras's fit gives them: the epoch's loss and accuracy are means over
every image, the last, shorter batch included (padded to the batch size with rows of weight zero,
so there is one program, and its gradient is the short batch's own; batch normalisation's
statistics are masked to the real rows); validation follows each epoch; the callbacks get Keras's
calls in Keras's order, and `model.stop_training` ends the loop.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.data import Dataset
from tuner.training.backend import keras
from tuner.training.schedules import schedule_inputs

__all__ = [
    "DEVICE_DATA_LIMIT_GB",
    "evaluate",
    "fit",
    "fits_on_device",
    "program_key",
    "programs_compiled",
    "steps_per_call",
]

# Image arrays larger than this stay on the host and train through Keras's fit (a folder's `Rows`
# are read a batch at a time there); below it they are copied to the device once per process.
DEVICE_DATA_LIMIT_GB = 4.0

# Programs kept per process, the most recently used last: each holds the model it was traced from
# (its weights and optimizer slots), so a long search of many shapes keeps only the latest; an
# older shape that comes back loads its compiled code from the persistent cache.
KEPT_PROGRAMS = 16
_programs: OrderedDict[str, _Program] = OrderedDict()
_evaluations: OrderedDict[str, _Evaluation] = OrderedDict()
_device_data: dict[str, Any] = {}
_traces = {"train": 0, "evaluate": 0}


def _kept(programs: OrderedDict[str, Any], key: str, make: Callable[[], Any]) -> Any:
    """The program of `key`, made if this process has none, the least recently used dropped past
    KEPT_PROGRAMS."""
    if key not in programs:
        programs[key] = make()
        while len(programs) > KEPT_PROGRAMS:
            programs.popitem(last=False)
    programs.move_to_end(key)
    return programs[key]


def programs_compiled() -> dict[str, int]:
    """How many times this process traced (and so compiled or loaded from the persistent cache) a
    training epoch and an evaluation: a trial of known shapes adds nothing."""
    return dict(_traces)


def steps_per_call(steps: int) -> int:
    """Training steps per call of the program: the whole epoch on a GPU or TPU, where dispatching
    each step from Python costs more than a small model's step; one on the CPU, where it costs
    little and XLA runs a loop's body slower than the same step alone (1.3x, reports/gpu.md).
    CNN_TUNE_STEPS_PER_CALL (`epoch` or a number) overrides it."""
    import jax

    asked = os.environ.get("CNN_TUNE_STEPS_PER_CALL", "")
    if asked == "epoch" or (not asked and jax.devices()[0].platform != "cpu"):
        return steps
    return max(1, min(steps, int(asked or 1)))


def _limit_bytes() -> float:
    raw = os.environ.get("CNN_TUNE_DEVICE_DATA_GB")
    return float(raw if raw else DEVICE_DATA_LIMIT_GB) * 2**30


def fits_on_device(dataset: Dataset) -> bool:
    """Whether the dataset's images go to the device whole: their bytes under the limit and under a
    quarter of an accelerator's memory. On the CPU an image folder's memory-mapped rows stay mapped
    (the device is the host's memory: a copy would hold the folder twice) and train through fit."""
    import jax

    device = jax.devices()[0]
    if dataset.batched and device.platform == "cpu":
        return False
    size = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in (dataset.x_train, dataset.x_val, dataset.x_test))
    memory = (device.memory_stats() or {}).get("bytes_limit")
    return size <= _limit_bytes() and (memory is None or size <= memory / 4)


def _layer_key(layer: Any) -> dict[str, Any]:
    config = {k: v for k, v in layer.get_config().items() if k != "name"}
    if isinstance(layer, keras.layers.Dropout):
        config.pop("rate", None)  # an input of the program
    return {"class": type(layer).__name__, **config}


def _layers_key(model: Any, shape: tuple[int, ...]) -> list[Any]:
    return [list(shape), [_layer_key(layer) for layer in model.layers]]


def program_key(model: Any, batch_size: int, dataset: Dataset) -> str:
    """What decides a training program's code: the layers (without names or dropout rates), the
    optimizer's settings but its rate, the batch size and the data's shapes and types."""
    optimizer = {k: v for k, v in model.optimizer.get_config().items() if k not in ("name", "learning_rate")}
    data = [(list(x.shape), str(x.dtype)) for x in (dataset.x_train, dataset.y_train)]
    key = [
        _layers_key(model, dataset.input_shape),
        type(model.optimizer).__name__,
        optimizer,
        batch_size,
        data,
    ]
    return json.dumps(key, sort_keys=True, default=str)


def _on_device(dataset: Dataset) -> dict[str, Any]:
    """The dataset's six arrays on the device, copied once per process (the last dataset kept)."""
    import jax.numpy as jnp

    if _device_data.get("dataset") is not dataset:
        _device_data.clear()
        arrays = {name: jnp.asarray(np.asarray(getattr(dataset, name))) for name in ("x_train", "x_val", "x_test")}
        arrays |= {
            name: jnp.asarray(np.asarray(getattr(dataset, name), dtype=np.int32))
            for name in ("y_train", "y_val", "y_test")
        }
        _device_data.update(dataset=dataset, arrays=arrays)
    return dict(_device_data["arrays"])


def _forward(model: Any, tv: list[Any], ntv: list[Any], x: Any, *, training: bool, dropout: Any, real: Any) -> Any:
    """The model on a batch, as its own `stateless_call` runs it, except that a Dropout layer drops
    at the traced `dropout` rate and batch normalisation computes its statistics over the `real`
    rows only. Returns the outputs and the non-trainable values after the call."""
    import jax.numpy as jnp

    mapping = [
        *zip(model.trainable_variables, tv, strict=True),
        *zip(model.non_trainable_variables, ntv, strict=True),
    ]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dropout):
                if training:
                    x = _dropped(x, dropout, layer)
            elif isinstance(layer, keras.layers.BatchNormalization):
                mask = jnp.broadcast_to(real.reshape((-1,) + (1,) * (x.ndim - 2)), x.shape[:-1])
                x = layer.call(x, training=training, mask=mask)  # not __call__: it would pass the mask on
            else:
                x = layer(x, training=training)
        updated = [scope.get_current_value(v) for v in model.non_trainable_variables]
    return x, updated


def _dropped(x: Any, rate: Any, layer: Any) -> Any:
    """What Keras's Dropout does in training (keras.random.dropout on JAX), at a traced rate: the
    same draw from the layer's seed generator, the kept values scaled by 1 / (1 - rate)."""
    import jax
    import jax.numpy as jnp

    keep = 1.0 - rate
    shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(layer.noise_shape or x.shape))
    kept = jax.random.bernoulli(layer.seed_generator.next(), p=keep, shape=shape)
    return jax.lax.select(jnp.broadcast_to(kept, x.shape), x / keep, jnp.zeros_like(x))


def _scheduled_rate(hp: dict[str, Any], iteration: Any, current: Any) -> Any:
    """`schedules.rate_at` inside the program: the rate at step `iteration` for the schedule in
    `hp` (kind 0, constant: `current`, the optimizer's own rate, which annealing may have lowered)."""
    import jax.numpy as jnp

    step = iteration.astype(jnp.float32)
    rate, horizon, warmup, decay = hp["rate"], hp["horizon"], hp["warmup"], hp["decay"]
    cosine = rate * 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(step, horizon) / horizon))
    up = rate / 10 + (rate - rate / 10) * step / warmup
    down = rate * 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(step - warmup, decay) / decay))
    one_cycle = jnp.where(step < warmup, up, down)
    stepped = jnp.where(step <= hp["half"], rate, jnp.where(step <= hp["three_quarters"], rate / 10, rate / 100))
    kind = hp["kind"]
    chosen = jnp.where(kind == 1, cosine, jnp.where(kind == 2, one_cycle, stepped))
    return jnp.where(kind == 0, current, chosen).astype(current.dtype)


def _positions(optimizer: Any) -> tuple[int, int]:
    """Where the step counter and the learning rate sit among the optimizer's variables."""
    found = {id(v): i for i, v in enumerate(optimizer.variables)}
    return found[id(optimizer.iterations)], found[id(optimizer._learning_rate)]


class _Program:
    """`steps` training steps of every model of one key, traced from the first such model: one call
    trains steps `first` to `first + steps - 1` of the epoch (a step past its end changes nothing)."""

    def __init__(self, model: Any, batch_size: int, steps: int) -> None:
        import jax

        self.model = model
        self.batch_size = batch_size
        self.steps = steps
        self.iteration, self.rate = _positions(model.optimizer)
        self.run = jax.jit(self._steps)

    def _steps(
        self, tv: list[Any], ntv: list[Any], ov: list[Any], xs: Any, ys: Any, order: Any, hp: Any, first: Any
    ) -> Any:
        import jax
        import jax.numpy as jnp

        _traces["train"] += 1
        model, optimizer, size = self.model, self.model.optimizer, self.batch_size
        rows, total = ys.shape[0], order.shape[0] // size
        ragged = total % self.steps != 0  # the epoch's last call runs past its end

        def step(carry: Any, i: Any) -> Any:
            tv, ntv, ov, loss_sum, hits = carry
            index = jax.lax.dynamic_slice_in_dim(order, i * size, size)
            real = (i * size + jnp.arange(size)) < rows
            weight = real.astype(jnp.float32)
            xb, yb = jnp.take(xs, index, axis=0), jnp.take(ys, index, axis=0)

            def loss_of(tv: list[Any]) -> Any:
                pred, updated = _forward(model, tv, ntv, xb, training=True, dropout=hp["dropout"], real=real)
                each = keras.losses.sparse_categorical_crossentropy(yb, pred) * weight
                return jnp.sum(each) / jnp.maximum(jnp.sum(weight), 1.0), (pred, updated, jnp.sum(each))

            (_, (pred, new_ntv, batch_loss)), grads = jax.value_and_grad(loss_of, has_aux=True)(tv)
            new_ov = list(ov)
            new_ov[self.rate] = _scheduled_rate(hp, ov[self.iteration], ov[self.rate])
            new_tv, new_ov = optimizer.stateless_apply(new_ov, grads, tv)
            hit = jnp.sum((jnp.argmax(pred, axis=-1) == yb) * weight)
            if ragged:  # a step past the epoch's end keeps the state as it was
                keep = i < total
                new_tv, new_ntv, new_ov = jax.tree.map(
                    lambda new, old: jnp.where(keep, new, old), (new_tv, new_ntv, new_ov), (tv, ntv, list(ov))
                )
            return (new_tv, new_ntv, new_ov, loss_sum + batch_loss, hits + hit), None

        zero = jnp.zeros((), jnp.float32)
        carry = (tv, ntv, ov, zero, zero)
        if self.steps == 1:  # no loop: XLA on the CPU runs a loop's body slower than the same step alone
            carry, _ = step(carry, first)
        else:
            carry, _ = jax.lax.scan(step, carry, first + jnp.arange(self.steps))
        tv, ntv, ov, loss_sum, hits = carry
        # What Keras's optimizer reports after a step: the rate of the step that comes next.
        ov = list(ov)
        ov[self.rate] = _scheduled_rate(hp, ov[self.iteration], ov[self.rate])
        return tv, ntv, ov, loss_sum, hits


class _Evaluation:
    """Loss and accuracy over a split, in batches of `batch_size`, for every model of one layers key."""

    def __init__(self, model: Any, batch_size: int) -> None:
        import jax

        self.model = model
        self.batch_size = batch_size
        self.run = jax.jit(self._evaluate)

    def _evaluate(self, tv: list[Any], ntv: list[Any], xs: Any, ys: Any) -> Any:
        import jax
        import jax.numpy as jnp

        _traces["evaluate"] += 1
        size, rows = self.batch_size, ys.shape[0]

        def step(carry: Any, i: Any) -> Any:
            loss_sum, hits = carry
            index = i * size + jnp.arange(size)
            real = index < rows
            index = jnp.minimum(index, rows - 1)
            weight = real.astype(jnp.float32)
            yb = jnp.take(ys, index, axis=0)
            pred, _ = _forward(self.model, tv, ntv, jnp.take(xs, index, axis=0), training=False, dropout=0.0, real=real)
            each = keras.losses.sparse_categorical_crossentropy(yb, pred) * weight
            hit = jnp.sum((jnp.argmax(pred, axis=-1) == yb) * weight)
            return (loss_sum + jnp.sum(each), hits + hit), None

        zero = jnp.zeros((), jnp.float32)
        steps = math.ceil(rows / size)
        (loss_sum, hits), _ = jax.lax.scan(step, (zero, zero), jnp.arange(steps))
        return loss_sum / rows, hits / rows


@dataclass
class _State:
    """A model's weights, other state and optimizer slots as arrays, in Keras's variable order."""

    tv: list[Any]
    ntv: list[Any]
    ov: list[Any]

    @classmethod
    def of(cls, model: Any) -> _State:
        return cls(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.optimizer.variables],
        )

    def store(self, model: Any) -> None:
        for variables, values in (
            (model.trainable_variables, self.tv),
            (model.non_trainable_variables, self.ntv),
            (model.optimizer.variables, self.ov),
        ):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)


def _dropout(model: Any) -> float:
    rates = {float(layer.rate) for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    if len(rates) > 1:
        raise ValueError("the fused epoch takes one dropout rate for every Dropout layer")
    return rates.pop() if rates else 0.0


def _order(rows: int, padded: int, seed: int, epoch: int) -> np.ndarray:
    """Epoch `epoch`'s order of the training rows, drawn from (seed, epoch), padded with row 0."""
    order = np.zeros(padded, dtype=np.int32)
    order[:rows] = np.random.default_rng([seed, epoch]).permutation(rows)
    return order


def _evaluation(model: Any, dataset: Dataset, batch_size: int) -> _Evaluation:
    key = json.dumps([_layers_key(model, dataset.input_shape), batch_size], sort_keys=True, default=str)
    return _kept(_evaluations, key, lambda: _Evaluation(model, batch_size))


def evaluate(model: Any, dataset: Dataset, split: str, batch_size: int) -> dict[str, float]:
    """The model's loss and accuracy on `split` (val or test), as `model.evaluate` reports them."""
    data = _on_device(dataset)
    state = _State.of(model)
    loss, accuracy = _evaluation(model, dataset, batch_size).run(
        state.tv, state.ntv, data[f"x_{split}"], data[f"y_{split}"]
    )
    return {"loss": float(loss), "accuracy": float(accuracy)}


def fit(
    model: Any,
    dataset: Dataset,
    config: dict[str, Any],
    *,
    batch_size: int,
    epochs: int,
    seed: int,
    callbacks: list[Any],
    evaluate_batch: int,
) -> None:
    """Train `model` (compiled, as `build_model` makes it with its schedule left to the program) for
    up to `epochs` epochs of `dataset`, validating after each, with Keras's callbacks."""
    import jax.numpy as jnp

    model.optimizer.build(model.trainable_variables)
    rows = len(dataset.y_train)
    steps = math.ceil(rows / batch_size)
    per_call = steps_per_call(steps)
    key = json.dumps([program_key(model, batch_size, dataset), per_call])
    program = _kept(_programs, key, lambda: _Program(model, batch_size, per_call))
    validation = _evaluation(model, dataset, evaluate_batch)
    data = _on_device(dataset)
    hp = {name: jnp.asarray(value, jnp.float32) for name, value in schedule_inputs(config, steps).items()}
    hp["dropout"] = jnp.asarray(_dropout(model), jnp.float32)
    firsts = [jnp.asarray(first, jnp.int32) for first in range(0, steps, per_call)]

    hooks = keras.callbacks.CallbackList(callbacks, model=model)
    model.stop_training = False
    hooks.on_train_begin()
    for epoch in range(epochs):
        hooks.on_epoch_begin(epoch)
        state = _State.of(model)
        tv, ntv, ov = state.tv, state.ntv, state.ov
        order = jnp.asarray(_order(rows, steps * batch_size, seed, epoch))
        loss = accuracy = jnp.zeros((), jnp.float32)
        for first in firsts:
            tv, ntv, ov, loss_sum, hits = program.run(tv, ntv, ov, data["x_train"], data["y_train"], order, hp, first)
            loss, accuracy = loss + loss_sum, accuracy + hits  # on the device: no wait between calls
        loss, accuracy = loss / rows, accuracy / rows  # float32, as Keras's metrics report them
        _State(tv, ntv, ov).store(model)
        val_loss, val_accuracy = validation.run(tv, ntv, data["x_val"], data["y_val"])
        logs = {
            "accuracy": float(accuracy),
            "loss": float(loss),
            "val_accuracy": float(val_accuracy),
            "val_loss": float(val_loss),
        }
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()
