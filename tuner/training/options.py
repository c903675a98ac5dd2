"""How trials train, beyond what a configuration says: passed explicitly from the settings to the trainer."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TrainingOptions"]


@dataclass(frozen=True)
class TrainingOptions:
    """`xla`: compile the training step with XLA; `mixed_precision`: train in mixed_float16 (GPUs);
    `steps_per_execution`: training steps Keras runs per call into the compiled function (the
    numbers are the same; a small model's epoch gets faster as dispatch is paid less often)."""

    xla: bool = False
    mixed_precision: bool = False
    steps_per_execution: int = 1
