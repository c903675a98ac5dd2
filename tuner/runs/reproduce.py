"""Retrain one trial from its record alone and check that it gets the recorded numbers."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tuner.errors import CnnTuneError, StopTrial
from tuner.runs.record import versions
from tuner.training.backend import deterministic_kernels, recorded_backend, use_backend
from tuner.training.options import TrainingOptions
from tuner.training.schedules import trial_epochs

if TYPE_CHECKING:
    from tuner.runs.reader import Run

__all__ = ["METRICS", "TOLERANCE", "Reproduction", "reproduce"]

# Training on the CPU is deterministic here (same seed, same ops, same thread count): the same
# trial gives bit-identical losses. The tolerance only absorbs the decimal round trip of the
# tables; a real difference (another TensorFlow, another machine, a GPU's kernels left nondeterministic
# with --no-deterministic) is far larger.
TOLERANCE = 1e-6
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass
class Reproduction:
    """Recorded beside reproduced, per epoch and at the end, and whether they agree."""

    trial: int
    config: dict[str, Any]
    seed: int
    epochs: pd.DataFrame
    final: pd.DataFrame
    differences: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    model_path: Path | None = None
    full: str | None = None  # what a pruned trial reached trained on to its full budget (`full=True`)

    @property
    def matches(self) -> bool:
        return not self.differences


def _trial_row(run: Run, trial: int | None) -> pd.Series:
    number = run.trial_number(trial)
    row = run.trials[run.trials["trial"] == number].iloc[0]
    if row["state"] not in ("complete", "pruned"):
        raise CnnTuneError(f"trial {number} {row['state']} ({row['fail_reason']}); nothing to reproduce", field="trial")
    return row


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or pd.isna(a)) and (b is None or pd.isna(b))
    return abs(float(a) - float(b)) <= TOLERANCE


def _outcome(result: Any, epochs: int, stop: Any) -> str:
    """One line on where a training ended: met the stop rule at an epoch, or missed it in its epochs."""
    if result.reached_threshold:
        return (
            f"met the stop rule at epoch {result.epochs_to_threshold} ({result.seconds_to_threshold:.1f} s of "
            f"training), test accuracy {result.test_accuracy:.4f}"
        )
    if result.state != "complete":
        return f"{result.state} at epoch {result.epochs_run}: {result.fail_reason}"
    if stop is None:
        return f"trained all {epochs} epochs, test accuracy {result.test_accuracy:.4f}"
    closest = "" if result.best_stop_metric is None else f" (at best {result.best_stop_metric:.4f})"
    return f"missed the stop rule in all {epochs} epochs{closest}, test accuracy {result.test_accuracy:.4f}"


def reproduce(run: Run, trial: int | None = None, save_model: bool = True, full: bool = False) -> Reproduction:
    """Retrain trial `trial` (None: the best) from the run's record alone and compare, saving its model.

    A pruned trial stops where the pruner stopped it; with `full` it trains on to its full budget (its
    stop rule still ends it): the epochs the record holds are compared, and `Reproduction.full` says
    what the longer training reached."""
    row = _trial_row(run, trial)
    number, config, seed = int(row["trial"]), json.loads(row["config"]), int(row["seed"])
    record, space = run.record, run.space
    warnings = []
    data = run.dataset()
    if data.fingerprint != record.get("dataset", {}).get("fingerprint"):
        warnings.append(
            f"data fingerprint {data.fingerprint} differs from the recorded "
            f"{record.get('dataset', {}).get('fingerprint')}: the numbers may not match"
        )
    now, then = versions(), record.get("versions", {})
    changed = [f"{k} {then[k]} -> {now.get(k, 'missing')}" for k in then if now.get(k) != then[k]]
    if changed:
        warnings.append("package versions differ from the record: " + ", ".join(changed))

    recorded = run.history[run.history["trial"] == number].sort_values("epoch").reset_index(drop=True)
    pruned = row["state"] == "pruned"
    stop_after = int(row["epochs_run"]) if pruned and not full else None

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        # A pruned trial stopped where the pruner stopped it; stop the retraining there too.
        if stop_after is not None and epoch >= stop_after:
            raise StopTrial(str(row["fail_reason"]))

    backend = recorded_backend(record)
    options = TrainingOptions.from_record(record, backend)  # as the run trained
    if not options.deterministic:
        warnings.append(
            "the run trained with --no-deterministic: on a GPU its numbers vary from run to run, so they may differ"
        )
    use_backend(backend, options.deterministic)  # the run's own: another backend's numbers differ
    if (loaded := deterministic_kernels()) != options.deterministic:
        warnings.append(
            f"Keras already loaded in this process with{'' if loaded else 'out'} deterministic GPU kernels, "
            "unlike the run: on a GPU the numbers may differ"
        )
    from tuner.training.trainer import train_trial  # Keras loads here

    said: list[str] = []
    model_path = run.model_path(number) if save_model else None
    result = train_trial(
        config,
        data,
        options=options,
        seed=seed,
        constraints=space.constraints,
        stop=space.stop,
        on_epoch=on_epoch,
        say=said.append,
        save_to=model_path,
    )
    again = pd.DataFrame(result.history)
    epochs = pd.DataFrame({"epoch": range(1, max(len(recorded), len(again)) + 1)})
    differences = []
    extended = pruned and full
    if len(recorded) != len(again) and not (extended and len(again) > len(recorded)):
        differences.append(f"epochs: recorded {len(recorded)}, reproduced {len(again)}")
    for metric in METRICS:
        ours = recorded[metric] if metric in recorded else pd.Series(dtype=float)
        theirs = again[metric] if metric in again else pd.Series(dtype=float)
        epochs[f"{metric}_recorded"] = ours
        epochs[f"{metric}_reproduced"] = theirs
        for i in range(min(len(ours), len(theirs))):
            if not _close(ours.iloc[i], theirs.iloc[i]):
                differences.append(
                    f"epoch {i + 1} {metric}: recorded {ours.iloc[i]:.6f}, reproduced {theirs.iloc[i]:.6f}"
                )
                break
    finals = []
    for name, key in (
        ("train accuracy", "train_accuracy"),
        ("validation accuracy", "val_accuracy"),
        ("test accuracy", "test_accuracy"),
        ("epochs to threshold", "epochs_to_threshold"),
    ):
        then_value = None if pd.isna(row[key]) else row[key]
        now_value = getattr(result, key)
        finals.append(
            {"figure": name, "recorded": then_value, ("trained in full" if extended else "reproduced"): now_value}
        )
        if not extended and not _close(then_value, now_value):
            differences.append(f"{name}: recorded {then_value}, reproduced {now_value}")
    return Reproduction(
        number,
        config,
        seed,
        epochs,
        pd.DataFrame(finals),
        differences,
        warnings,
        model_path if model_path is not None and model_path.exists() else None,
        _outcome(result, trial_epochs(config), space.stop) if extended else None,
    )
