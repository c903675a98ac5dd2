"""What an engine is: a proposer of configurations that keeps the study's records.

The trial loop (`tuner.search.loop`) asks an engine for a proposal, trains it, and tells the
engine the record; it asks the engine what the study holds (finished and running trials) to
know when to stop. An engine knows nothing of training, pruning or tables.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tuner.errors import CnnTuneError
from tuner.records import TrialRecord, TrialResult
from tuner.space import Space

__all__ = ["Engine", "EpochHook", "PackRunner", "Proposal", "Slot", "Study", "TrialRunner"]

EpochHook = Callable[[int, dict[str, float]], None]
# (config, seed, on_epoch, say) -> result; the real one is the trainer, tests pass scripted fakes.
TrialRunner = Callable[[dict, int, EpochHook, Callable[[str], None]], TrialResult]


@dataclass
class Slot:
    """One trial of a pack, as the loop hands it to a `PackRunner`: train `config` with `seed`, call
    `on_epoch` after each epoch (it raises StopTrial when the trial should stop), and `end` once with
    the trial's result, whatever it was (complete, pruned, failed)."""

    number: int
    config: dict[str, Any]
    seed: int
    on_epoch: EpochHook
    end: Callable[[TrialResult], None]
    say: Callable[[str], None]


class PackRunner(ABC):
    """Trains up to `width` trials at once (a pack: one compiled program for several models). The loop
    calls `run` with `take`, which gives the next trial for a free slot, or None when none may start
    now; `run` returns once its slots are empty and `take` gives None. Every trial it took ends
    through its slot's `end`, except when `run` raises: then the loop records the trials it holds."""

    width: int

    @abstractmethod
    def run(self, take: Callable[[], Slot | None]) -> None:
        """Train trials from `take` until none is left to train."""


@dataclass(frozen=True)
class Study:
    """What an engine opens: the space, where its state lives, and the seeds of its proposals."""

    space: Space
    folder: Path
    name: str
    seed: int
    trials: int = 12  # the study's target count (TPE's share of random start-up trials follows it)
    storage: str | None = None  # an optuna storage URL; None: the engine's own files in `folder`
    sampler_seed: int | None = None  # default: seed; workers each draw their own proposals
    run_record: dict[str, Any] | None = None  # run.json's record, kept with a shared study


@dataclass
class Proposal:
    """One configuration to train: its trial number, searched values, full config and training seed.
    `handle` is the engine's own trial object."""

    number: int
    params: dict[str, Any]
    config: dict[str, Any]
    seed: int
    handle: Any = field(default=None, repr=False)


class Engine(ABC):
    """An optimiser adapter: proposes trials and records their outcome. Subclasses list their algorithms."""

    name: ClassVar[str]
    algorithms: ClassVar[dict[str, str]]
    exhausted: str | None = None  # why `ask` returned None, when the user should hear it

    def __init__(self, algorithm: str | None = None) -> None:
        self.algorithm = algorithm or next(iter(self.algorithms))
        if self.algorithm not in self.algorithms:
            raise CnnTuneError(
                f"unknown algorithm {self.algorithm!r} for engine {self.name}; "
                f"choose from: {', '.join(sorted(self.algorithms))}",
                field="algorithm",
            )

    def default_pruner(self, space: Space) -> str:
        """The pruner a run gets when none is asked for."""
        from tuner.pruners import default_pruner

        return default_pruner(space, grid=self.algorithm == "grid")

    def storage_label(self, folder: Path, storage: str | None) -> str:
        """Where the engine keeps its state, as run.json records it."""
        return storage or str(folder)

    # -- the study -----------------------------------------------------------------------------

    @abstractmethod
    def open(self, study: Study) -> None:
        """Create the study, or load it to resume; a new one queues the space's start configurations."""

    @abstractmethod
    def ask(self) -> Proposal | None:
        """The next trial to run, or None when the engine has nothing left to propose."""

    @abstractmethod
    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        """Record how a proposed trial ended (complete, pruned or failed)."""

    @abstractmethod
    def records(self) -> list[TrialRecord]:
        """Every trial of the study worth a row, oldest first (every worker's)."""

    def finished(self) -> int:
        """Complete and pruned trials of the study."""
        return sum(r.state in ("complete", "pruned") for r in self.records())

    def running(self) -> list[int]:
        """Numbers of the study's trials running now (in this and other workers)."""
        return [r.trial for r in self.records() if r.state == "running"]

    def capacity(self) -> int | None:
        """How many distinct trials the engine can propose at most (a grid's size), None if unbounded."""
        return None

    def deadline(self, timeout: float | None) -> float | None:
        """When the search stops starting trials, in seconds since the epoch."""
        return None if timeout is None else time.time() + timeout

    def recover(self) -> None:
        """Fail the trials whose worker died mid-trial, and queue their configurations again."""
        return None

    def report(self, proposal: Proposal, epoch: int, value: float) -> None:
        """An intermediate value of a running trial, for engines that keep them."""
        return None

    @contextlib.contextmanager
    def running_trial(self, proposal: Proposal) -> Iterator[None]:
        """Held while `proposal` trains (a database study's heartbeat)."""
        yield

    def interrupted(self, proposal: Proposal, record: TrialRecord) -> None:
        """Ctrl-C or SIGTERM stopped the trial: record it failed; its configuration runs again on resume."""
        self.tell(proposal, record)

    def give_back(self, proposal: Proposal) -> None:
        """Workers asked for the study's last slots at once: this proposal is not run."""
        raise NotImplementedError(f"engine {self.name} runs in one worker only")
