"""How trials train, beyond what a configuration says: passed explicitly from the settings to the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tuner.training.backend import default_backend

__all__ = ["PATIENCE", "STEPS_PER_EXECUTION", "TrainingOptions"]

# A small model's step is mostly dispatch: running several steps per call into the compiled function
# pays it less often, which shortens a small model's epoch on a GPU and on the CPU alike, leaves a
# large model's about as it was, and gives the same numbers (measured in reports/gpu.md and
# reports/benchmarks.md).
STEPS_PER_EXECUTION = 32

# Epochs without a better validation value before a trial on a validation objective ends, as in
# Keras's own EarlyStopping example: each costs the trial an epoch, and a validation curve's
# epoch-to-epoch noise can hide a real gain for an epoch or two.
PATIENCE = 3


@dataclass(frozen=True)
class TrainingOptions:
    """`backend`: the framework Keras runs on (tensorflow, jax, torch; default KERAS_BACKEND, else
    tensorflow); `xla`: compile the training step with XLA (JAX always does; PyTorch: torch.compile);
    `mixed_precision`: train in mixed_float16 (GPUs); `steps_per_execution`: training steps Keras
    runs per call into the compiled function (the numbers are the same; a small model's epoch gets
    faster as dispatch is paid less often; None: STEPS_PER_EXECUTION, 1 on PyTorch, which takes no other);
    `deterministic`: GPU kernels that give the same numbers every run, so that `reproduce` matches
    (at some cost in epoch time on a GPU, measured in reports/gpu.md; CPU training is deterministic
    anyway). The framework takes it when it loads (`use_backend`), once per process, not per trial.
    `keep_best`: the validation metric whose best epoch a trial keeps (its weights, its numbers), as
    keras-tuner scores a trial and `EarlyStopping(restore_best_weights=True)` keeps a model; None: the
    last epoch (threshold objectives, whose trial ends at the rule). `patience`: with `keep_best`, end
    a trial once that metric has not improved for this many epochs (0: train every epoch; None: the
    search decides, `PATIENCE` for validation objectives). `fused`: on JAX, train each epoch as one
    compiled program (training/fused.py) rather than through Keras's fit loop, which dispatches
    every step from Python; it applies without mixed precision and to images that fit on the device."""

    xla: bool = False
    mixed_precision: bool = False
    steps_per_execution: int | None = None
    backend: str = field(default_factory=default_backend)
    deterministic: bool = True
    keep_best: str | None = None
    patience: int | None = None
    fused: bool = True

    @classmethod
    def from_record(cls, record: dict[str, Any], backend: str) -> TrainingOptions:
        """The options a run trained with, from its run.json. An option the record lacks (a run.json
        written by an older cnn-tune) takes the value such runs trained with: no XLA, no mixed
        precision, one step per execution, deterministic kernels (they trained on the CPU, where
        training is deterministic), the last epoch kept, Keras's fit loop."""
        return cls(
            xla=bool(record.get("xla", False)),
            mixed_precision=bool(record.get("mixed_precision", False)),
            steps_per_execution=int(record.get("steps_per_execution") or 1),
            backend=backend,
            deterministic=bool(record.get("deterministic", True)),
            keep_best=record.get("keep_best"),
            patience=int(record.get("patience") or 0),
            fused=bool(record.get("fused", False)),
        )

    def decided(self) -> TrainingOptions:
        """These options with `steps_per_execution` filled in (`steps`) and `fused` where it applies,
        as run.json records them."""
        return replace(self, steps_per_execution=self.steps, fused=self.fused_epoch)

    @property
    def fused_epoch(self) -> bool:
        """Whether epochs train as one compiled program: asked for, on JAX, without mixed precision."""
        return self.fused and self.backend == "jax" and not self.mixed_precision

    @property
    def steps(self) -> int:
        """Steps per execution as Keras takes it: what was asked, else STEPS_PER_EXECUTION (PyTorch: 1)."""
        if self.steps_per_execution is not None:
            return self.steps_per_execution
        return 1 if self.backend == "torch" else STEPS_PER_EXECUTION

    @property
    def jit_compile(self) -> bool:
        """What Keras's `jit_compile` gets: JAX trains compiled or not at all usefully."""
        return self.xla or self.backend == "jax"
