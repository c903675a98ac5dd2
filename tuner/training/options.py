"""How trials train, beyond what a configuration says: passed explicitly from the settings to the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tuner.training.backend import default_backend

__all__ = ["GPU_STEPS_PER_EXECUTION", "TrainingOptions"]

# On a GPU a small model's step is mostly dispatch: 32 steps per call made the course's model's
# epoch 0.68x as long on an H100 with JAX (reports/gpu.md). On the CPU it measured no faster.
GPU_STEPS_PER_EXECUTION = 32


@dataclass(frozen=True)
class TrainingOptions:
    """`backend`: the framework Keras runs on (tensorflow, jax, torch; default KERAS_BACKEND, else
    tensorflow); `xla`: compile the training step with XLA (JAX always does; PyTorch: torch.compile);
    `mixed_precision`: train in mixed_float16 (GPUs); `steps_per_execution`: training steps Keras
    runs per call into the compiled function (the numbers are the same; a small model's epoch gets
    faster as dispatch is paid less often; PyTorch takes only 1; None: decided by `on_devices`)."""

    xla: bool = False
    mixed_precision: bool = False
    steps_per_execution: int | None = None
    backend: str = field(default_factory=default_backend)

    def on_devices(self, gpu: bool) -> TrainingOptions:
        """These options with what was left to the devices decided: `steps_per_execution`
        GPU_STEPS_PER_EXECUTION on a GPU (1 on PyTorch, which takes no other), else 1."""
        if self.steps_per_execution is not None:
            return self
        steps = GPU_STEPS_PER_EXECUTION if gpu and self.backend != "torch" else 1
        return replace(self, steps_per_execution=steps)

    @property
    def steps(self) -> int:
        """Steps per execution as Keras takes it (1 while undecided)."""
        return self.steps_per_execution or 1

    @property
    def jit_compile(self) -> bool:
        """What Keras's `jit_compile` gets: JAX trains compiled or not at all usefully."""
        return self.xla or self.backend == "jax"
