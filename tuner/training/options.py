"""How trials train, beyond what a configuration says: passed explicitly from the settings to the trainer."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TrainingOptions"]


@dataclass(frozen=True)
class TrainingOptions:
    """`xla`: compile the training step with XLA; `mixed_precision`: train in mixed_float16 (GPUs)."""

    xla: bool = False
    mixed_precision: bool = False
