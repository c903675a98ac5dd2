"""The optuna engine: a space becomes suggest_* calls; trials run through ask and tell."""

from __future__ import annotations

import importlib.util
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from tuner.engines.base import Engine, SearchJob, Session
from tuner.engines.pruning import FOUND_ELSEWHERE, ExactStop, fastest_in_study
from tuner.engines.storage import Heartbeat, heartbeat_enabled, open_storage
from tuner.engines.workers import new_session, this_worker, worker_is_dead
from tuner.errors import WORKER_DIED, CnnTuneError, TrialPruned, interruption
from tuner.records import TrialRecord, trial_seed
from tuner.space import Space
from tuner.store import identity_difference, mask_url

__all__ = ["RUN_ATTR", "OptunaEngine", "read_study", "suggest"]

RUN_ATTR = "cnn_tune_run"  # the study's user attribute holding run.json's record
SURPLUS_ATTR = "cnn_tune_surplus"  # a trial asked for when the study was already full, given back unrun
DEADLINE_ATTR = "cnn_tune_deadline"  # when the study's --timeout ends (seconds since the epoch)

_STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def suggest(trial: Trial, space: Space) -> dict[str, Any]:
    """Ask optuna for every searched parameter that is active; return the resolved configuration."""
    partial: dict[str, Any] = {}
    sampled: dict[str, Any] = {}
    for p in space.params:
        if p.when is not None and not p.when.holds(partial):
            continue
        if p.kind == "fixed":
            value = p.value
        elif p.kind == "choice":
            value = trial.suggest_categorical(p.name, list(p.choices))
        elif p.kind == "int":
            value = trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            value = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
            value = round(value, 12) if p.step is not None else value
        if p.kind != "fixed":
            sampled[p.name] = value
        partial[p.name] = value
    return space.resolve(sampled)


def _check_same_search(study: optuna.Study, job: SearchJob) -> None:
    """The first worker records the run in the study (so `report --storage` works from any host); a host
    joining with another space, engine, dataset or seed would mix two searches in one study: refused."""
    assert job.run_record is not None
    recorded = study.user_attrs.get(RUN_ATTR)
    if recorded is None:
        study.set_user_attr(RUN_ATTR, job.run_record)
        return
    detail = identity_difference(recorded.get("identity", {}), job.run_record.get("identity", {}))
    if detail:
        raise CnnTuneError(
            f"--name {job.study_name}: the study in {mask_url(str(job.storage))} holds another search ({detail}); "
            "run the command its first host ran, or choose another --name"
        )


def _deadline(study: optuna.Study, job: SearchJob) -> float | None:
    """When this search stops starting trials (wall clock), shared by every worker of the study.

    The first worker with --timeout records its deadline in the study; workers joining while it lies
    ahead (other hosts, spawned workers) keep it, so --timeout is study-wide. Once it has passed, the
    same command is a resume and gets a fresh --timeout.
    """
    if job.timeout is None:
        return None
    now = time.time()
    shared = study.user_attrs.get(DEADLINE_ATTR)
    if isinstance(shared, (int, float)) and shared > now:
        return float(shared)
    study.set_user_attr(DEADLINE_ATTR, now + job.timeout)
    return now + job.timeout


def _stale_reason(t: FrozenTrial) -> str:
    """Every failure cnn-tune records carries its reason; one without was failed by optuna's heartbeat check."""
    host = (t.user_attrs.get("worker") or {}).get("host", "an unknown host")
    return f"interrupted: its worker on {host} stopped sending heartbeats"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def to_record(t: FrozenTrial) -> TrialRecord:
    attrs = t.user_attrs
    return TrialRecord(
        trial=t.number,
        state=_STATES.get(t.state, str(t.state)),
        params=dict(t.params),
        config=attrs.get("config", {}),
        seed=attrs.get("seed"),
        value=t.value if t.state == TrialState.COMPLETE else None,
        result=attrs.get("result", {}),
        history=attrs.get("history", []),
        fail_reason=attrs.get("fail_reason") or (_stale_reason(t) if t.state == TrialState.FAIL else None),
        started=_iso(t.datetime_start),
        finished=_iso(t.datetime_complete),
    )


def _needs(module: str, algorithm: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise CnnTuneError(f"algorithm {algorithm!r} needs the {module} package: pip install {module}")


class OptunaEngine(Engine):
    name = "optuna"
    _opened: tuple[str, Any] | None = None  # (url, storage) of the study's storage, once opened
    algorithms: ClassVar[dict[str, str]] = {
        "tpe": "Tree-structured Parzen Estimator (multivariate, grouped for conditional parameters)",
        "random": "independent uniform sampling",
        "grid": "every combination of discrete values (ranges need a step)",
        "qmc": "quasi-Monte Carlo (Sobol), needs scipy",
        "cmaes": "CMA-ES over numeric parameters, needs cmaes",
    }
    pruners: ClassVar[dict[str, str]] = {
        "exact": "stop a trial once it cannot beat the fastest to the threshold (never drops a possible winner)",
        "median": "stop a trial worse than the median of earlier trials at the same epoch",
        "hyperband": "Hyperband over epochs",
        "exact+median": "exact, then median",
        "exact+hyperband": "exact, then Hyperband",
        "none": "train every trial to its stop rule or last epoch",
    }

    def default_pruner(self, space: Space) -> str:
        if space.objective.needs_stop:  # epochs_to_threshold, time_to_threshold
            return "exact"
        # A grid is a table: every row trains in full unless a pruner is asked for.
        return "none" if self.algorithm == "grid" else "median"

    def storage_label(self, job_folder: Path, storage: str | None) -> str:
        if storage is not None:
            self._open(storage)  # a bad URL fails before the run folder exists
        return storage or f"journal:{job_folder / 'study.journal'}"

    def _open(self, url: str) -> Any:
        """The storage behind `url`, opened once per engine (the check before the run folder, then the study)."""
        if self._opened is None or self._opened[0] != url:
            self._opened = (url, open_storage(url, self._stale))
        return self._opened[1]

    # -- building the study -------------------------------------------------------------------

    def _sampler(self, space: Space, seed: int, trials: int) -> optuna.samplers.BaseSampler:
        if self.algorithm == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed,
                # optuna's 10 random start-up trials are a whole CPU-sized budget of CNN trainings
                # (5-8 trials in 15 minutes on 2 cores); TPE models the space from 5 on.
                n_startup_trials=max(3, min(5, trials // 4)),
                multivariate=True,
                group=True,
                constant_liar=True,
            )
        if self.algorithm == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if self.algorithm == "grid":
            return _AskTellGridSampler(self.grid(space), space, seed=seed)
        if self.algorithm == "qmc":
            _needs("scipy", "qmc")
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
        _needs("cmaes", "cmaes")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)

    @staticmethod
    def grid(space: Space) -> dict[str, list[Any]]:
        grid = {}
        for p in space.searched:
            values = p.values()
            if values is None:
                raise CnnTuneError(
                    f"{space.source}: params.{p.name}: grid search needs discrete values; "
                    "give the float range a `step` or use `choice`"
                )
            grid[p.name] = values
        return grid

    def _pruner(self, space: Space) -> optuna.pruners.BasePruner:
        name = self.pruner or self.default_pruner(space)
        inner: optuna.pruners.BasePruner | None = None
        if name.endswith("median"):
            inner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        elif name.endswith("hyperband"):
            inner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=space.max_epochs())
        if name.startswith("exact"):
            ExactStop.check(space, name)
        return inner or optuna.pruners.NopPruner()  # the exact part runs in `_one_trial`

    def study(self, job: SearchJob) -> optuna.Study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            study_name=job.study_name,
            storage=self._open(job.storage or self.storage_label(job.folder, None)),
            load_if_exists=True,
            direction=job.space.objective.direction,  # type: ignore[arg-type]
            sampler=self._sampler(job.space, job.seed if job.sampler_seed is None else job.sampler_seed, job.trials),
            pruner=self._pruner(job.space),
        )
        if job.run_record:
            _check_same_search(study, job)
        return study

    # -- running ------------------------------------------------------------------------------

    @staticmethod
    def _requeue(study: optuna.Study, t: FrozenTrial) -> None:
        """Queue an interrupted trial's configuration and seed: its slot runs again before the sampler
        proposes anything new (after the start configurations still queued, if any)."""
        if t.params:
            study.enqueue_trial(t.params, user_attrs={"seed": t.user_attrs.get("seed")}, skip_if_exists=False)

    def _stale(self, study: optuna.Study, t: FrozenTrial) -> None:
        """optuna failed `t` for missed heartbeats (its host died or lost the database): run it again.
        The trial is already finished here, so it cannot take a fail_reason; `_stale_reason` names it."""
        self._requeue(study, t)

    def _recover(self, study: optuna.Study) -> None:
        """Fail the trials whose worker died mid-trial (kill -9, power loss) and queue them again.

        A dead process on this host is seen at once; one on another host by its missed heartbeats
        (database storages). When several workers look at once, only the one whose state change
        lands queues the trial again.
        """
        storage = study._storage
        if heartbeat_enabled(storage):
            optuna.storages.fail_stale_trials(study)  # calls `_stale` for each trial it fails
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if worker_is_dead(t.user_attrs.get("worker"), t.datetime_start):
                try:
                    storage.set_trial_user_attr(t._trial_id, "fail_reason", WORKER_DIED)
                    if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                        continue
                except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
                    continue  # another worker got there first
                self._requeue(study, t)

    def _one_trial(self, study: optuna.Study, job: SearchJob, session: Session) -> TrialRecord | None:
        """Ask for a trial and run it; None when other workers filled the study's last slots first."""
        trial = study.ask()
        if _surplus(study, trial.number, session.target):
            trial.set_user_attr(SURPLUS_ATTR, True)
            study.tell(trial, state=TrialState.FAIL)
            return None
        with Heartbeat(study._storage, trial._trial_id):
            return self._run_asked(study, trial, job, session)

    def _run_asked(self, study: optuna.Study, trial: Trial, job: SearchJob, session: Session) -> TrialRecord:
        trial.set_user_attr("worker", this_worker())
        config = suggest(trial, job.space)
        seed = trial.user_attrs.get("seed")
        seed = trial_seed(job.seed, trial.number) if seed is None else seed
        trial.set_user_attr("config", config)
        trial.set_user_attr("seed", seed)
        job.observer.trial_started(trial.number, config)
        stop = job.space.stop
        epochs = int(config.get("epochs", 1))
        pruner = study.pruner
        exact = (
            ExactStop(job.space.objective.name)
            if (self.pruner or self.default_pruner(job.space)).startswith("exact")
            else None
        )
        fit_seconds = 0.0

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            nonlocal fit_seconds
            fit_seconds += logs.get("seconds", 0.0)
            job.observer.epoch_ended(trial.number, epoch, epochs, logs)
            if session.abandon():
                raise TrialPruned(FOUND_ELSEWHERE)
            if exact is not None:
                reason = exact.reason(epoch, fit_seconds, fastest_in_study(study, exact.key))
                if reason:
                    raise TrialPruned(reason)
            trial.report(job.space.objective.intermediate(logs, stop), epoch)
            if trial.should_prune():
                name = type(pruner).__name__.removesuffix("Pruner").lower()
                raise TrialPruned(f"{name} pruner at epoch {epoch}")

        try:
            result = job.run_trial(config, seed, on_epoch, job.observer.message)
        except KeyboardInterrupt as exc:
            reason = interruption(exc)
            trial.set_user_attr("fail_reason", reason)
            self._requeue(study, study._storage.get_trial(trial._trial_id))
            study.tell(trial, state=TrialState.FAIL)
            raise
        data = result.to_dict()
        trial.set_user_attr("history", data.pop("history"))
        trial.set_user_attr("result", data)
        if result.state == "complete":
            study.tell(trial, job.space.objective.value(data, stop))
        elif result.state == "pruned":
            trial.set_user_attr("fail_reason", result.fail_reason)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            trial.set_user_attr("fail_reason", result.fail_reason)
            study.tell(trial, state=TrialState.FAIL)
        return to_record(study._storage.get_trial(trial._trial_id))

    def collect(self, job: SearchJob) -> list[TrialRecord]:
        return _records(self.study(job))

    def search(self, job: SearchJob) -> list[TrialRecord]:
        new_session()
        study = self.study(job)
        self._recover(study)
        if job.space.start and not study.get_trials(deepcopy=False):
            # A new study tries the space's start configurations first (workers that join later
            # find them queued); the sampler fills in any parameter an entry leaves out.
            for params in job.space.start:
                study.enqueue_trial(params, skip_if_exists=True)
        target = job.trials
        if self.algorithm == "grid":
            target = min(target, _AskTellGridSampler(self.grid(job.space), job.space).size)

        def finished() -> int:
            return len(study.get_trials(deepcopy=False, states=_FINISHED))

        def claimed() -> int:
            return len(study.get_trials(deepcopy=False, states=(*_FINISHED, TrialState.RUNNING)))

        def found() -> bool:
            return fastest_in_study(study) is not None

        def records() -> list[TrialRecord]:
            return _records(study)

        session = Session(
            job,
            target,
            finished,
            records,
            claimed,
            found,
            recover=lambda: self._recover(study),
            ends_at=_deadline(study, job),
        )
        session.start()
        try:
            while not session.should_stop():
                try:
                    record = self._one_trial(study, job, session)
                except BaseException:
                    session.save()
                    raise
                if record is not None:
                    session.trial_done(record)
            session.save()  # the trials other workers finished after this one's last
        finally:
            session.finish()
        return records()


def read_study(url: str, name: str) -> tuple[dict[str, Any], list[TrialRecord]]:
    """The run record and every trial of the cnn-tune study `name` in the storage at `url`."""
    storage = open_storage(url, lambda study, trial: None)  # reading only: fails no stale trial
    names = optuna.get_all_study_names(storage)
    if name not in names:
        held = ", ".join(sorted(names)) or "no studies"
        raise CnnTuneError(f"--name {name}: no study of that name in {mask_url(url)} (it holds {held})")
    study = optuna.load_study(study_name=name, storage=storage)
    record = study.user_attrs.get(RUN_ATTR)
    if not record:
        raise CnnTuneError(f"--name {name}: the study in {mask_url(url)} was not made by cnn-tune run")
    return record, _records(study)


def _surplus(study: optuna.Study, number: int, target: int) -> bool:
    """Whether trial `number`, just asked for, is one too many: workers that asked at the same moment
    for the study's last slots all got a trial, and the youngest of them give theirs back."""
    claimed = study.get_trials(deepcopy=False, states=(*_FINISHED, TrialState.RUNNING))
    over = len(claimed) - target
    if over <= 0:
        return False
    youngest = sorted((t.number for t in claimed if t.state == TrialState.RUNNING), reverse=True)[:over]
    return number in youngest


def _records(study: optuna.Study) -> list[TrialRecord]:
    """Every trial worth a row: not the queued ones, nor the surplus ones given back unrun."""
    return [
        to_record(t)
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.WAITING and not t.user_attrs.get(SURPLUS_ATTR)
    ]


class _AskTellGridSampler(optuna.samplers.GridSampler):
    """GridSampler over the space's distinct configurations, without its `study.stop()` at the end
    of the grid (which only works inside `study.optimize`; the engine's loop stops at `size`).

    Grid points that differ only in a parameter whose `when` does not hold (lr_patience when
    lr_annealing is off) build the same model: only the first of them, in the seeded order, stays.
    """

    def __init__(self, grid: dict[str, list[Any]], space: Space, seed: int | None = None) -> None:
        super().__init__(grid, seed=seed)
        seen, kept = set(), []
        for values in self._all_grids:  # optuna's shuffled points; the seed makes the order repeatable
            config = space.resolve(dict(zip(self._param_names, values, strict=True)))
            key = tuple(sorted((k, repr(v)) for k, v in config.items()))
            if key not in seen:
                seen.add(key)
                kept.append(values)
        self._all_grids = kept
        self._n_min_trials = len(kept)

    @property
    def size(self) -> int:
        return self._n_min_trials

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        return None
