"""One search session, start to end: space, data, run folder, engine, tables."""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import platform
import signal
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from tuner.data import Dataset, load_dataset
from tuner.devices import Placement, plan_workers, visible_gpus
from tuner.engines import get_engine
from tuner.engines.base import Engine, SearchJob, TrialRunner
from tuner.engines.storage import is_journal
from tuner.errors import CnnTuneError, Terminated, raise_terminated
from tuner.observer import Observer
from tuner.records import TrialRecord
from tuner.reports import history_frame, leaderboard, summarize, trials_frame
from tuner.reports.render import run_markdown
from tuner.space import Space, load_space
from tuner.store import RunStore, mask_url

__all__ = ["SearchOutcome", "SearchSettings", "run_search"]

_PACKAGES = ("cnn-tune", "tensorflow", "tensorflow-cpu", "keras", "keras-tuner", "optuna", "numpy", "pandas")


@dataclass
class SearchSettings:
    """The options of `cnn-tune run`."""

    space: str
    dataset: str | None = None
    engine: str = "optuna"
    algorithm: str | None = None
    pruner: str | None = None
    trials: int | None = None
    timeout: float | None = None
    max_epochs: int | None = None
    train_limit: int | None = None
    seed: int = 0
    out: Path = Path("reports")
    name: str | None = None
    storage: str | None = None
    workers: int | None = None
    gpus: str = "all"
    trials_per_gpu: int = 1
    mixed_precision: bool = False
    xla: bool = False
    stop_when_found: bool = False
    pins: list[str] = field(default_factory=list)
    no_start: bool = False
    command: list[str] = field(default_factory=list)

    def pinned(self) -> dict[str, Any]:
        """`--set NAME=VALUE` options as {name: value}, each value read as a YAML scalar."""
        values: dict[str, Any] = {}
        for text in self.pins:
            name, sep, raw = text.partition("=")
            try:
                value = yaml.safe_load(raw) if sep else None
            except yaml.YAMLError:
                value = None
            if not sep or not name.strip() or not isinstance(value, (bool, int, float, str)):
                raise CnnTuneError(f"--set {text}: write NAME=VALUE with one value, such as --set filters=32")
            values[name.strip()] = value
        return values

    def check(self) -> None:
        """Reject impossible numbers before anything is loaded."""
        for option, value, low in (
            ("--trials", self.trials, 1),
            ("--max-epochs", self.max_epochs, 1),
            ("--train-limit", self.train_limit, 20),
        ):
            if value is not None and value < low:
                raise CnnTuneError(f"{option}: must be at least {low}, got {value}")
        if self.workers is not None and not 1 <= self.workers <= 64:
            raise CnnTuneError(f"--workers: must be between 1 and 64, got {self.workers}")
        if self.timeout is not None and self.timeout <= 0:
            raise CnnTuneError(f"--timeout: must be a positive number of seconds, got {self.timeout:g}")


@dataclass
class SearchOutcome:
    store: RunStore
    records: list[TrialRecord]
    resumed: bool
    interrupted: bool = False
    exit_code: int = 0


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def trainer_runner(space: Space, dataset: Dataset) -> TrialRunner:
    """The real trial runner: the Keras trainer on `dataset` under the space's rules."""

    def run(config: dict[str, Any], seed: int, on_epoch: Any, say: Any) -> Any:
        from tuner.trainer import train_trial  # TensorFlow loads here, on the first trial

        return train_trial(
            config, dataset, seed=seed, constraints=space.constraints, stop=space.stop, on_epoch=on_epoch, say=say
        )

    return run


def _shared(storage: str | None) -> bool:
    """Whether the study lives in a database other hosts may share (not a journal file)."""
    return storage is not None and not is_journal(storage)


def save_tables(store: RunStore, space: Space, run: dict[str, Any], records: list[TrialRecord]) -> None:
    """Write the run's tables (trials, history, best config, leaderboard) from its trial records."""
    trials = trials_frame(records, [p.name for p in space.searched])
    board = leaderboard(trials, space.objective, space.stop)
    summary = summarize(trials, board, run)
    store.save_tables(trials, history_frame(records), summary.best_config, run_markdown(summary, board, run))


def _record(
    settings: SearchSettings, space: Space, engine: Engine, dataset: Dataset, name: str, storage: str
) -> dict[str, Any]:
    return {
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [mask_url(arg) for arg in settings.command or sys.argv],  # no password from --storage
        "space": space.to_dict(),
        "engine": engine.name,
        "algorithm": engine.algorithm,
        "pruner": engine.pruner or engine.default_pruner(space),
        "seed": settings.seed,
        "trials": settings.trials or space.trials,
        "dataset": dataset.describe()
        | {"spec": settings.dataset or space.dataset, "train_limit": settings.train_limit},
        "storage": mask_url(storage),
        "workers": settings.workers,
        "gpus": settings.gpus,
        "trials_per_gpu": settings.trials_per_gpu,
        "mixed_precision": settings.mixed_precision,
        "xla": settings.xla,
        "versions": versions(),
    }


def _options_env(settings: SearchSettings) -> dict[str, str]:
    env = {}
    if settings.mixed_precision:
        env["CNN_TUNE_MIXED_PRECISION"] = "1"
    if settings.xla:
        env["CNN_TUNE_XLA"] = "1"
    return env


def _worker(settings: SearchSettings, run_trial: TrialRunner | None, placement: Placement) -> None:
    """A worker process: joins the run and runs trials until the study-wide count or time is reached."""
    os.environ.update(placement.env | _options_env(settings))
    signal.signal(signal.SIGTERM, raise_terminated)
    from tuner.progress import WorkerLines

    run_search(
        replace(settings, workers=1, gpus="none"), WorkerLines(placement.index), run_trial, worker=placement.index
    )


def _start_workers(settings: SearchSettings, run_trial: TrialRunner | None, placements: list[Placement]) -> list[Any]:
    """This process is the first worker; the others are spawned (nothing of TensorFlow is inherited)."""
    os.environ.update(placements[0].env | _options_env(settings))
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(settings, run_trial, p), name=f"cnn-tune worker {p.index}")
        for p in placements[1:]
    ]
    for process in workers:
        process.start()
    return workers


def run_search(
    settings: SearchSettings,
    observer: Observer | None = None,
    run_trial: TrialRunner | None = None,
    worker: int = 1,
) -> SearchOutcome:
    """Run (or resume) the search `settings` describe; tables are rewritten after every trial.

    With `settings.workers` > 1 this process and workers - 1 more share the run's study, each
    with its share of the cores; `run_trial` (None for the real trainer) must then be picklable.
    `worker` > 1 marks a spawned worker joining the run.
    """
    join = worker > 1
    settings.check()
    space = load_space(settings.space)
    pinned = settings.pinned()
    if pinned:
        space = space.with_values(pinned)
    if settings.max_epochs:
        space = space.with_max_epochs(settings.max_epochs)
    engine = get_engine(settings.engine, settings.algorithm, settings.pruner)
    if settings.no_start or engine.algorithm == "grid":  # a grid tries every combination anyway
        space = space.without_start()
    # Worker placement is checked before the data loads: an impossible setup fails at once.
    placements = (
        []
        if join
        else plan_workers(
            settings.gpus, visible_gpus() if settings.gpus != "none" else [], settings.workers, settings.trials_per_gpu
        )
    )
    if len(placements) > 1 and engine.name != "optuna":
        raise CnnTuneError("--workers: parallel trials share an optuna study; use --engine optuna")
    dataset = load_dataset(settings.dataset or space.dataset, train_limit=settings.train_limit, **space.data_options())
    space.check_constraints(dataset.input_shape, dataset.num_classes)  # on the images as loaded
    name = settings.name or f"{space.name}-{engine.name}-{engine.algorithm}"
    store = RunStore(Path(settings.out).expanduser() / name)
    storage = engine.storage_label(store.path, settings.storage)
    identity = {
        "space": space.raw,
        "engine": engine.name,
        "algorithm": engine.algorithm,
        "dataset": dataset.fingerprint,
        "train_limit": settings.train_limit,
        "max_epochs": settings.max_epochs,
        "seed": settings.seed,
        **({"set": pinned} if pinned else {}),  # runs made without --set keep resuming
    }
    run = _record(settings, space, engine, dataset, name, storage)
    resumed = store.prepare(identity, run, join)
    job = SearchJob(
        space=space,
        run_trial=run_trial or trainer_runner(space, dataset),
        folder=store.path,
        storage=settings.storage,
        study_name=name,
        trials=settings.trials or space.trials,
        timeout=settings.timeout,
        seed=settings.seed,
        # Each worker's sampler draws its own proposals; the first keeps the run's seed. Processes
        # joining a database study from several hosts all run the same command: their process ids
        # tell them apart, or every host would propose the same configurations.
        sampler_seed=settings.seed + 7919 * (worker - 1) + (os.getpid() if _shared(settings.storage) else 0),
        observer=observer or Observer(),
        save=lambda records: save_tables(store, space, run, records),
        stop_when_found=settings.stop_when_found,
        run_record={**run, "identity": identity},
    )
    workers = _start_workers(settings, run_trial, placements) if placements else []
    try:
        records = engine.search(job)
    except KeyboardInterrupt as exc:
        for process in workers:
            process.terminate()  # SIGTERM: each marks its running trial and writes the tables
        return SearchOutcome(
            store, [], resumed, interrupted=True, exit_code=143 if isinstance(exc, Terminated) else 130
        )
    except OSError as exc:  # the run folder's disk is full or read-only, mid-search
        for process in workers:
            process.terminate()
        where = exc.filename or store.path
        raise CnnTuneError(
            f"{where}: cannot write ({exc.strerror or exc}); finished trials are kept: free space or make "
            "the folder writable, then run the same command to resume"
        ) from None
    finally:
        for process in workers:
            process.join()
    if workers:
        records = engine.collect(job)
        job.save(records)
    return SearchOutcome(store, records, resumed)
