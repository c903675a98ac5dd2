"""One search, start to end: space, data, run folder, engine, pruner, workers, the trial loop."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tuner.data import Dataset, load_dataset, pipeline_identity, recorded_pipeline
from tuner.engines import Engine, PackRunner, Study, TrialRunner, get_engine
from tuner.errors import CnnTuneError, Terminated, raise_terminated
from tuner.pruners import Pruner, make_pruner
from tuner.records import TrialRecord
from tuner.runs.record import new_record
from tuner.runs.store import RunStore
from tuner.search.loop import TrialLoop
from tuner.search.observer import Observer, Observers, WorkerLines
from tuner.search.settings import SearchSettings
from tuner.search.workers import die_with_parent, start_workers
from tuner.space import Space, load_space
from tuner.space.objectives import VALUES
from tuner.training.backend import check_backend, deterministic_kernels, use_backend
from tuner.training.devices import Placement, plan_workers, visible_gpus
from tuner.training.options import PATIENCE, TrainingOptions

__all__ = ["SearchOutcome", "SearchPlan", "plan", "run_search", "trainer_runner"]


@dataclass
class SearchOutcome:
    store: RunStore
    records: list[TrialRecord]
    resumed: bool
    interrupted: bool = False
    exit_code: int = 0


class trainer_runner:
    """The real trial runner: the Keras trainer on `dataset` under the space's rules."""

    def __init__(self, space: Space, dataset: Dataset, options: TrainingOptions) -> None:
        self.space, self.dataset, self.options = space, dataset, options

    def __call__(self, config: dict[str, Any], seed: int, on_epoch: Any, say: Any) -> Any:
        from tuner.training.trainer import train_trial  # Keras loads here, on the first trial

        space = self.space
        return train_trial(
            config,
            self.dataset,
            seed=seed,
            constraints=space.constraints,
            stop=space.stop,
            on_epoch=on_epoch,
            say=say,
            options=self.options,
        )


def _shared(storage: str | None) -> bool:
    """Whether the study lives in a database other hosts may share (not a journal file)."""
    if storage is None:
        return False
    from tuner.engines.optuna_storage import is_journal  # a storage URL is an optuna study's

    return not is_journal(storage)


def _space(settings: SearchSettings, engine: Engine) -> Space:
    space = load_space(settings.space)
    if settings.pins:
        space = space.with_values(settings.pins)
    if settings.max_epochs:
        space = space.with_max_epochs(settings.max_epochs)
    if settings.no_start or engine.algorithm == "grid":  # a grid tries every combination anyway
        space = space.without_start()
    return space


@dataclass
class SearchPlan:
    """What a search will run, decided from its settings before anything heavy loads (no data, no
    Keras, no study): the engine, the space as pinned and capped, and the pruner."""

    engine: Engine
    space: Space
    pruner: Pruner


def plan(settings: SearchSettings) -> SearchPlan:
    """Check `settings` and decide the engine, space and pruner; every bad value is a `CnnTuneError`."""
    settings.check()
    check_backend(settings.training.backend)
    engine = get_engine(settings.engine, settings.algorithm)
    space = _space(settings, engine)
    if space.objective.needs_stop and settings.training.patience:
        raise CnnTuneError(
            f"a trial on {space.objective.name} ends at the stop rule; patience is for the validation "
            "objectives (val_accuracy, val_loss)",
            field="patience",
        )
    return SearchPlan(engine, space, make_pruner(settings.pruner or engine.default_pruner(space), space))


def legacy_values(store: RunStore) -> bool:
    """Whether the run keeps the legacy values of trials that missed the threshold: trials are valued
    past the budget (`Space.missed_at`), but a run started before that resumes with the values its
    study was told, so that they stay comparable."""
    return store.exists() and store.recorded_identity().get("values") != VALUES


def kept_epochs(options: TrainingOptions, space: Space, store: RunStore) -> TrainingOptions:
    """`options` with the epoch a trial keeps decided: on a validation objective its best epoch,
    ending `patience` epochs past it (PATIENCE unless asked); on a threshold objective the last, where
    the rule ended it. A run started before trials kept their best epoch resumes keeping the last."""
    if space.objective.needs_stop:
        return replace(options, keep_best=None, patience=0)
    if store.exists() and "keep" not in store.recorded_identity():
        if options.patience:
            raise CnnTuneError(
                f"{store.path} keeps each trial's last epoch (it started before trials kept their best): "
                "resume it without --patience, or start a new run with --name",
                field="patience",
            )
        return replace(options, keep_best=None, patience=0)
    patience = PATIENCE if options.patience is None else options.patience
    return replace(options, keep_best=space.objective.name, patience=patience)


def _worker(
    settings: SearchSettings, run_trial: TrialRunner | PackRunner | None, placement: Placement, parent: int
) -> None:
    """A spawned worker: joins the run and runs trials until the study-wide count or time is reached,
    or until the process that spawned it is gone."""
    os.environ.update(placement.env)
    signal.signal(signal.SIGTERM, raise_terminated)
    die_with_parent(parent)
    run_search(replace(settings, workers=1, gpus=()), WorkerLines(placement.index), run_trial, worker=placement.index)


def _observer(observer: Observer, settings: SearchSettings, space: Space, join: bool) -> Observer:
    """The caller's observer, and the TensorBoard log when asked for (its experiment written once)."""
    if settings.tensorboard is None:
        return observer
    from tuner.search.tensorboard import TensorBoardLog

    return Observers(observer, TensorBoardLog(Path(settings.tensorboard), space, experiment=not join))


def run_search(
    settings: SearchSettings,
    observer: Observer | None = None,
    run_trial: TrialRunner | PackRunner | None = None,
    worker: int = 1,
) -> SearchOutcome:
    """Run (or resume) the search `settings` describe; tables are rewritten after every trial.

    With `settings.workers` > 1 this process and workers - 1 more share the run's study, each
    with its share of the cores; `run_trial` (None for the real trainer; a `PackRunner` trains
    several trials at once) must then be picklable.
    `worker` > 1 marks a spawned worker joining the run.
    """
    join = worker > 1
    settings.check()
    # Before Keras loads, in every worker (the keras-tuner engine loads it when the plan names it).
    use_backend(settings.training.backend, settings.training.deterministic)
    kernels = deterministic_kernels()  # what this process trains with, if it loaded Keras before
    chosen = plan(settings)
    engine, space, pruner = chosen.engine, chosen.space, chosen.pruner
    # Worker placement is checked before the data loads: an impossible setup fails at once.
    placements = (
        []
        if join
        else plan_workers(
            settings.gpus,
            visible_gpus(settings.training.backend) if settings.gpus != () else [],
            settings.workers,
            settings.trials_per_gpu,
        )
    )
    # Spawned workers take the settings as decided here; hosts joining a shared study decide alike.
    settings = replace(settings, training=settings.training.decided())
    if len(placements) > 1 and engine.name != "optuna":
        raise CnnTuneError("parallel trials share an optuna study; use the optuna engine", field="workers")
    if isinstance(run_trial, PackRunner) and engine.name != "optuna":  # keras-tuner's oracle runs one trial
        raise CnnTuneError("a pack trains several trials of one optuna study at once; use the optuna engine")
    if placements:  # this process is the first worker: its place holds before anything loads Keras
        os.environ.update(placements[0].env)
    name = settings.name or f"{space.name}-{engine.name}-{engine.algorithm}"
    store = RunStore(Path(settings.out).expanduser() / name)
    pipeline = recorded_pipeline(store.recorded_identity() if store.exists() else None)
    spec = settings.dataset or space.dataset
    dataset = load_dataset(spec, train_limit=settings.train_limit, **pipeline, **space.data_options())
    space.check_constraints(dataset.input_shape, dataset.num_classes)  # on the images as loaded
    pruner = pruner.measured_on(len(dataset.y_val))  # median stopping weighs the validation set's noise
    legacy = legacy_values(store)
    space = space.with_legacy_values(legacy)
    training = kept_epochs(settings.training, space, store)
    storage = engine.storage_label(store.path, settings.storage)
    identity = {
        "space": space.raw,
        "engine": engine.name,
        "algorithm": engine.algorithm,
        "dataset": dataset.fingerprint,
        "train_limit": settings.train_limit,
        "max_epochs": settings.max_epochs,
        "seed": settings.seed,
        **({} if legacy else {"values": VALUES}),
        **({"set": settings.pins} if settings.pins else {}),  # runs made without pins keep resuming
        # A backend's numbers differ from another's; TensorFlow runs made before --backend keep resuming.
        **({"backend": settings.training.backend} if settings.training.backend != "tensorflow" else {}),
        # Resumed with other kernels, a run could not say which trials `reproduce` can match.
        **({"deterministic": False} if not kernels else {}),
        **pipeline_identity(dataset, pipeline),
        # JAX's fused epoch gives other numbers than Keras's fit loop, which JAX runs trained with before.
        **({"fused": True} if settings.training.fused_epoch else {}),
        # What a trial keeps decides its numbers; runs made before it was recorded kept the last epoch.
        **({"keep": {"best": training.keep_best, "patience": training.patience}} if training.keep_best else {}),
    }
    trials = settings.budget.trials or space.trials
    run = new_record(
        name,
        settings.command or sys.argv,
        storage,
        space=space.to_dict(),
        engine=engine.name,
        algorithm=engine.algorithm,
        pruner=str(pruner),
        seed=settings.seed,
        trials=trials,
        dataset=dataset.describe() | {"spec": settings.dataset or space.dataset, "train_limit": settings.train_limit},
        workers=settings.workers,
        gpus=settings.gpus_label,
        trials_per_gpu=settings.trials_per_gpu,
        backend=settings.training.backend,
        mixed_precision=settings.training.mixed_precision,
        xla=settings.training.xla,
        steps_per_execution=settings.training.steps_per_execution,
        fused=settings.training.fused_epoch,
        deterministic=kernels,
        keep_best=training.keep_best,
        patience=training.patience,
        **({"tensorboard": str(settings.tensorboard)} if settings.tensorboard is not None else {}),
    )
    resumed = store.prepare(identity, run, join)
    engine.open(
        Study(
            space=space,
            folder=store.path,
            name=name,
            seed=settings.seed,
            trials=trials,
            storage=settings.storage,
            # Each worker's sampler draws its own proposals; the first keeps the run's seed. Processes
            # joining a database study from several hosts all run the same command: their process ids
            # tell them apart, or every host would propose the same configurations.
            sampler_seed=settings.seed + 7919 * (worker - 1) + (os.getpid() if _shared(settings.storage) else 0),
            run_record={**run, "identity": identity},
        )
    )
    loop = TrialLoop(
        engine,
        space,
        run_trial or trainer_runner(space, dataset, training),
        pruner,
        settings.budget,
        _observer(observer or Observer(), settings, space, join),
        lambda records: store.save_records(records, space, run),
        workers=max(1, len(placements)),
    )
    workers = start_workers(_worker, settings, run_trial, placements) if placements else []
    interrupted: KeyboardInterrupt | None = None
    try:
        try:
            records = loop.run()
        except KeyboardInterrupt as exc:
            for process in workers:
                process.terminate()  # SIGTERM: each marks its running trial and writes the tables
            interrupted = exc
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
        if workers and interrupted is None:
            records = engine.records()  # what the other workers finished last
            store.save_records(records, space, run)
    finally:
        if not join:  # `cnn-tune watch` stops here, however the session ended
            with contextlib.suppress(OSError, CnnTuneError):
                store.mark_ended()
    if interrupted is not None:
        code = 143 if isinstance(interrupted, Terminated) else 130
        return SearchOutcome(store, [], resumed, interrupted=True, exit_code=code)
    return SearchOutcome(store, records, resumed)
