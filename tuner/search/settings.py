"""What a search is asked to do, as typed values: the library's counterpart of `cnn-tune run`'s options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import CnnTuneError
from tuner.training.options import TrainingOptions

__all__ = ["Budget", "SearchSettings", "TrainingOptions"]


@dataclass(frozen=True)
class Budget:
    """How much searching to do: finished trials the study should hold (None: the space's own
    count), seconds before no new trial starts, training epochs the study's finished trials may
    spend in all before no new trial starts, or until the first trial meets the stop rule."""

    trials: int | None = None
    timeout: float | None = None
    epochs: int | None = None
    stop_when_found: bool = False
    max_consecutive_failures: int = 5


@dataclass
class SearchSettings:
    """One search: the space, the data, the engine and its choices, the budget, where it is kept,
    the workers and devices, and how trials train. `gpus` None means every visible GPU, () none."""

    space: str
    dataset: str | None = None
    engine: str = "optuna"
    algorithm: str | None = None
    pruner: str | None = None
    budget: Budget = field(default_factory=Budget)
    max_epochs: int | None = None
    train_limit: int | None = None
    seed: int = 0
    out: Path = Path("reports")
    name: str | None = None
    storage: str | None = None
    workers: int | None = None
    gpus: tuple[str, ...] | None = None
    trials_per_gpu: int = 1
    training: TrainingOptions = field(default_factory=TrainingOptions)
    pins: dict[str, Any] = field(default_factory=dict)
    no_start: bool = False
    tensorboard: Path | None = None  # write TensorBoard logs (per-epoch scalars, HParams) here
    command: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Reject impossible numbers before anything is loaded."""
        for name, value, low in (
            ("trials", self.budget.trials, 1),
            ("epoch_budget", self.budget.epochs, 1),
            ("max_epochs", self.max_epochs, 1),
            ("train_limit", self.train_limit, 20),
            ("patience", self.training.patience, 0),
        ):
            if value is not None and value < low:
                raise CnnTuneError(f"must be at least {low}, got {value}", field=name)
        if self.workers is not None and not 1 <= self.workers <= 64:
            raise CnnTuneError(f"must be between 1 and 64, got {self.workers}", field="workers")
        steps = self.training.steps_per_execution
        if steps is not None and steps < 1:
            raise CnnTuneError(
                f"must be at least 1, got {self.training.steps_per_execution}", field="steps_per_execution"
            )
        if self.training.backend == "torch" and steps is not None and steps > 1:
            raise CnnTuneError("Keras on PyTorch takes only 1", field="steps_per_execution")
        if self.budget.timeout is not None and self.budget.timeout <= 0:
            raise CnnTuneError(f"must be a positive number of seconds, got {self.budget.timeout:g}", field="timeout")
        if self.tensorboard is not None:
            from tuner.search.tensorboard import check_tensorboard

            check_tensorboard(self.tensorboard)

    @property
    def gpus_label(self) -> str:
        """The GPU choice as run.json records it: all, none, or the numbers."""
        return "all" if self.gpus is None else ",".join(self.gpus) or "none"
