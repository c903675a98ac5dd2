"""Run one trial: seed, build, check, fit with the callbacks, evaluate, return a result record.

The trainer knows nothing of engines: it takes a configuration and hands every
epoch to an optional `on_epoch` hook, which may raise StopTrial.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuner.data import Dataset
from tuner.errors import StopTrial, TrialFailed
from tuner.records import TrialResult
from tuner.space.rules import Constraint, StopRule
from tuner.training.backend import clear_memory, keras, trial_error
from tuner.training.batches import fit_inputs, test_batch, test_inputs
from tuner.training.callbacks import BestEpoch, EpochMonitor, ThresholdStop
from tuner.training.model import build_model, check_model
from tuner.training.options import TrainingOptions
from tuner.training.schedules import trial_epochs

__all__ = ["train_trial"]


def _save_model(model: Any, path: Path) -> None:
    """Save as .keras through a temporary name, so a crash never leaves half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.keras")
    model.save(partial)
    os.replace(partial, path)


def _annealing(config: dict[str, Any]) -> list[Any]:
    """The course's learning-rate annealing: divide by 10 when validation loss stops falling."""
    if not config.get("lr_annealing") or config.get("lr_schedule", "constant") != "constant":
        return []  # a schedule owns the rate; annealing applies to a constant one
    patience = int(config.get("lr_patience", 2))
    return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=patience)]


def _fused() -> Any:
    """The fused JAX epoch (training/fused.py), imported only where JAX trains."""
    from tuner.training import fused

    return fused


def _seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)


def _finish(
    result: TrialResult,
    monitor: EpochMonitor,
    threshold: ThresholdStop | None,
    stop: StopRule | None,
    kept: int | None = None,
) -> None:
    """Fill `result` from the epochs trained; its metrics are the epoch `kept` (from 1), else the last."""
    history = monitor.history
    result.history = history
    result.epochs_run = len(history)
    result.fit_seconds = sum(row["seconds"] for row in history)
    result.seconds_per_epoch = result.fit_seconds / len(history) if history else None
    if history:
        row = history[kept - 1] if kept is not None else history[-1]
        result.kept_epoch = kept
        result.train_accuracy = row.get("accuracy")
        result.train_loss = row.get("loss")
        result.val_accuracy = row.get("val_accuracy")
        result.val_loss = row.get("val_loss")
    if stop is not None:
        values = [row[stop.metric] for row in history if stop.metric in row]
        if values:
            result.best_stop_metric = max(values) if stop.higher_is_better else min(values)
    if threshold is not None and threshold.reached_epoch is not None:
        result.reached_threshold = True
        result.epochs_to_threshold = threshold.reached_epoch
        result.seconds_to_threshold = sum(row["seconds"] for row in history[: threshold.reached_epoch])


def train_trial(
    config: dict[str, Any],
    dataset: Dataset,
    *,
    seed: int,
    constraints: tuple[Constraint, ...] = (),
    stop: StopRule | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    say: Callable[[str], None] = print,
    save_to: Path | None = None,
    options: TrainingOptions | None = None,
) -> TrialResult:
    """Train the model `config` describes; failures and pruning come back as the result's state."""
    options = options or TrainingOptions()
    clear_memory()
    keras.mixed_precision.set_global_policy("mixed_float16" if options.mixed_precision else "float32")
    _seed_everything(seed)
    result = TrialResult()
    epochs = trial_epochs(config)
    threshold = ThresholdStop(stop, say) if stop is not None else None
    monitor = EpochMonitor(threshold, on_epoch)
    best = BestEpoch(options.keep_best, options.patience or 0) if options.keep_best else None

    def kept() -> int | None:
        """The best epoch's weights back in the model (with `keep_best`): the model a trial keeps."""
        return best.restore(model, len(monitor.history)) if best is not None else None

    try:
        batch_size = int(config.get("batch_size", 32))
        fused = options.fused_epoch and _fused().fits_on_device(dataset)
        model = build_model(
            config,
            dataset.input_shape,
            dataset.num_classes,
            jit_compile=options.jit_compile,
            steps_per_epoch=math.ceil(len(dataset.x_train) / batch_size),
            steps_per_execution=options.steps,
            scale=dataset.scale,
            schedule=not fused,
        )
        counts = check_model(model, constraints, epochs)
        result.conv_layers, result.pool_layers = counts["conv_layers"], counts["pool_layers"]
        result.param_count = counts["params"]
        # Arrays loaded once per process go to Keras as they are, the way a plain `model.fit` script
        # feeds them: Keras batches them from memory, shuffled by the seed above; an image folder's
        # rows are gathered a batch at a time from its cache file. Bytes are scaled on the device,
        # by the model's first layer.
        # The best epoch is noted before the monitor, whose pruners may end the trial after it.
        callbacks = [*_annealing(config), *(c for c in (threshold, best, monitor) if c is not None)]
        if fused:
            _fused().fit(
                model,
                dataset,
                config,
                batch_size=batch_size,
                epochs=epochs,
                seed=seed,
                callbacks=callbacks,
                evaluate_batch=test_batch(dataset, batch_size),
            )
        else:
            model.fit(**fit_inputs(dataset, batch_size, seed), epochs=epochs, callbacks=callbacks, verbose=0)
        _finish(result, monitor, threshold, stop, kept())
        if fused:
            scores = _fused().evaluate(model, dataset, "test", test_batch(dataset, batch_size))
        else:
            scores = model.evaluate(**test_inputs(dataset, batch_size), verbose=0, return_dict=True)
        result.test_accuracy = float(scores["accuracy"])
        result.test_loss = float(scores["loss"])
        if save_to is not None:
            _save_model(model, save_to)
    except StopTrial as exc:
        _finish(result, monitor, threshold, stop, kept())
        result.state, result.fail_reason = "pruned", exc.reason
        if save_to is not None:  # `reproduce` of a pruned trial keeps the model it trained
            _save_model(model, save_to)
    except TrialFailed as exc:
        _finish(result, monitor, threshold, stop)
        result.state, result.fail_reason = "failed", exc.reason
    except Exception as exc:  # the framework's own run-time errors fail the trial; anything else is a bug
        reason = trial_error(exc)
        if reason is None:
            raise
        _finish(result, monitor, threshold, stop)
        result.state, result.fail_reason = "failed", reason
    return result
