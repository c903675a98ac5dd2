"""The keras-tuner engine: keras-tuner's oracles decide what to try; the shared trainer runs it.

The space becomes `kt.HyperParameters` (conditional parameters through
`conditional_scope`); a `BaseTuner` subclass runs each trial through the same
trainer, callbacks and constraint checks as the optuna engine, so nothing here
knows a Keras layer. keras-tuner's project folder lives in the run folder, its
files are written atomically, and a trial interrupted mid-way is recorded as
failed and re-run at most twice.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from tuner.backend import kt
from tuner.engines.base import Engine, SearchJob, Session
from tuner.engines.pruning import FOUND_ELSEWHERE, ExactStop
from tuner.errors import WORKER_DIED, CnnTuneError, TrialPruned, interruption
from tuner.records import TrialRecord, trial_seed
from tuner.space import Param, Space
from tuner.store import write_atomic

__all__ = ["KerasTunerEngine", "declare"]

TrialStatus = kt.engine.trial.TrialStatus
_PROJECT = "keras_tuner"
_RECORDS = "kt_trials"
_ID_WIDTH = 99_999  # keras-tuner sizes trial ids by max_trials; the engine's own loop counts trials
_MAX_RESTARTS = 2


def _scopes(space: Space, param: Param) -> list[tuple[str, list[Any]]] | None:
    """The chain of (parent, values) scopes under which `param` exists; None if it never can."""
    if param.when is None:
        return []
    parent = space.param(param.when.param)
    if parent is None:
        return None
    if not parent.searched:
        if not param.when.holds({parent.name: parent.value}):
            return None
        return _scopes(space, parent)
    values = parent.values()
    if values is None:
        raise CnnTuneError(
            f"{space.source}: params.{param.name}: keras-tuner needs discrete values for `{parent.name}`, "
            "which a condition depends on; give it `choice` or a step"
        )
    active = [v for v in values if param.when.holds({parent.name: v})]
    above = _scopes(space, parent)
    return None if above is None or not active else [*above, (parent.name, active)]


def declare(space: Space) -> Any:
    """The space's searched parameters as keras-tuner hyperparameters (fixed ones stay in the space)."""
    hp = kt.HyperParameters()
    for p in space.searched:
        scopes = _scopes(space, p)
        if scopes is None:
            continue
        with contextlib.ExitStack() as stack:
            for parent, values in scopes:
                stack.enter_context(hp.conditional_scope(parent, values))
            if p.kind == "choice":
                hp.Choice(p.name, list(p.choices))
            elif p.kind == "int":
                # keras-tuner reads `step` as a factor under log sampling: give it none there.
                step = None if p.log else int(p.step or 1)
                hp.Int(p.name, int(p.low), int(p.high), step=step, sampling="log" if p.log else "linear")
            else:
                hp.Float(p.name, p.low, p.high, step=p.step, sampling="log" if p.log else "linear")
    return hp


class RecordBook:
    """One JSON file per trial attempt, written atomically: the engine-neutral records of the run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, number: int) -> Path:
        return self.folder / f"{number:05d}.json"

    def all(self) -> list[TrialRecord]:
        return [TrialRecord(**json.loads(p.read_text())) for p in sorted(self.folder.glob("*.json"))]

    def write(self, record: TrialRecord) -> None:
        write_atomic(self._path(record.trial), json.dumps(asdict(record), default=float) + "\n")

    def begin(self, params: dict[str, Any], config: dict[str, Any], seed: int) -> TrialRecord:
        number = len(list(self.folder.glob("*.json")))
        record = TrialRecord(number, "running", params, config, seed, started=_now())
        self.write(record)
        return record

    def finished(self) -> int:
        return sum(r.state in ("complete", "pruned") for r in self.all())

    def fastest(self, exact: ExactStop) -> tuple[float, int] | None:
        """(epochs or seconds to threshold, trial) of the fastest complete trial that met the stop rule."""
        return exact.fastest((r.trial, r.result) for r in self.all() if r.state == "complete")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _ManagedOracle:
    """Mixed into a keras-tuner oracle: stops when the session says so, writes its files atomically,
    and draws the space's start configurations before its first random values."""

    should_stop: Callable[[], bool] = staticmethod(lambda: False)
    start: tuple[dict[str, Any], ...] = ()
    _started = 0  # start configurations drawn so far (kept in oracle.json, so a resumed run goes on)

    def _random_values(self) -> Any:
        while self._started < len(self.start):
            wanted = self.start[self._started]
            self._started += 1
            hps = kt.HyperParameters()
            for hp in self.hyperparameters.space:  # type: ignore[attr-defined]
                hps.merge([hp])
                if hps.is_active(hp):  # what an entry leaves out is drawn as keras-tuner would
                    hps.values[hp.name] = wanted.get(hp.name, hp.random_sample(self._seed_state))  # type: ignore[attr-defined]
                    self._seed_state += 1  # type: ignore[attr-defined]
            if not self._duplicate(hps.values):  # type: ignore[attr-defined]
                return hps.values
        return super()._random_values()  # type: ignore[misc]

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "cnn_tune_started": self._started}  # type: ignore[misc]

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)  # type: ignore[misc]
        self._started = int(state.get("cnn_tune_started", 0))

    def create_trial(self, tuner_id: str) -> Any:
        if self.should_stop():
            return kt.engine.trial.Trial(self.get_space(), status=TrialStatus.STOPPED)  # type: ignore[attr-defined]
        return super().create_trial(tuner_id)  # type: ignore[misc]

    def save(self) -> None:
        write_atomic(Path(self._get_oracle_fname()), json.dumps(self.get_state()))  # type: ignore[attr-defined]

    def _save_trial(self, trial: Any) -> None:
        folder = Path(self._get_trial_dir(trial.trial_id))  # type: ignore[attr-defined]
        write_atomic(folder / "trial.json", json.dumps(trial.get_state()))


def _managed(cls: type) -> type:
    return type(f"Managed{cls.__name__}", (_ManagedOracle, cls), {})


class _Tuner(kt.engine.base_tuner.BaseTuner):  # type: ignore[misc]
    """keras-tuner's own search loop and failed-trial mechanism around the shared trainer."""

    def __init__(self, oracle: Any, folder: Path, engine: KerasTunerEngine, job: SearchJob, book: RecordBook) -> None:
        self.engine, self.job, self.book = engine, job, book
        self.session: Session | None = None
        super().__init__(oracle=oracle, hypermodel=None, directory=str(folder), project_name=_PROJECT)

    def save(self) -> None:
        self.oracle.save()
        write_atomic(Path(self._get_tuner_fname()), json.dumps(self.get_state()))

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
        job, space = self.job, self.job.space
        values = dict(trial.hyperparameters.values)
        sampled = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        config = space.resolve(sampled)
        budget = values.get("tuner/epochs")
        if budget is not None:  # Hyperband's budget for this round, trained from scratch
            config["epochs"] = min(int(config.get("epochs") or budget), int(budget))
        record = self.book.begin(sampled, config, trial_seed(job.seed, int(trial.trial_id)))
        job.observer.trial_started(record.trial, config)
        epochs = int(config.get("epochs", 1))
        exact = ExactStop(space.objective.name) if self.engine.pruner == "exact" else None
        fit_seconds = 0.0

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            nonlocal fit_seconds
            fit_seconds += logs.get("seconds", 0.0)
            job.observer.epoch_ended(record.trial, epoch, epochs, logs)
            if self.session is not None and self.session.abandon():
                raise TrialPruned(FOUND_ELSEWHERE)
            if exact is not None:
                reason = exact.reason(epoch, fit_seconds, self.book.fastest(exact))
                if reason:
                    raise TrialPruned(reason)

        try:
            result = job.run_trial(config, int(record.seed or 0), on_epoch, job.observer.message)
        except KeyboardInterrupt as exc:
            reason = interruption(exc)
            self._end(record, "failed", fail_reason=reason)
            raise
        except Exception as exc:
            self._end(record, "failed", fail_reason=f"{type(exc).__name__}: {exc}")
            raise kt.errors.FailedTrialError(str(exc)) from exc
        data = result.to_dict()
        history = data.pop("history")
        if result.state == "failed":
            self._end(record, "failed", result=data, history=history, fail_reason=result.fail_reason)
            raise kt.errors.FailedTrialError(result.fail_reason)
        value = space.objective.value(data, space.stop)
        self._end(record, result.state, value=value, result=data, history=history, fail_reason=result.fail_reason)
        return {"score": value}

    def _end(self, record: TrialRecord, state: str, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(record, key, value)
        record.state, record.finished = state, _now()
        self.book.write(record)

    def on_trial_end(self, trial: Any) -> None:
        super().on_trial_end(trial)
        if self.session is not None:
            self.session.trial_done(self.book.all()[-1])

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        return None  # the trainer keeps no models during the search


class KerasTunerEngine(Engine):
    name = "keras-tuner"
    algorithms: ClassVar[dict[str, str]] = {
        "random": "RandomSearch: independent random sampling",
        "bayesian": "BayesianOptimization: Gaussian-process search (needs scikit-learn)",
        "hyperband": "Hyperband: brackets of successive halving over epochs (each round trains from scratch)",
        "grid": "GridSearch: every combination of discrete values",
    }
    pruners: ClassVar[dict[str, str]] = {
        "none": "keras-tuner's own behaviour: each trial trains to its stop rule or budget",
        "exact": "stop a trial once it cannot beat the best epochs (or seconds) to threshold",
    }

    def storage_label(self, job_folder: Path, storage: str | None) -> str:
        if storage is not None:
            raise CnnTuneError(
                "--storage: keras-tuner keeps its state in the run folder; --storage is for --engine optuna"
            )
        return str(job_folder / _PROJECT)

    def _oracle(self, space: Space, seed: int, target: int) -> Any:
        direction = "min" if space.objective.direction == "minimize" else "max"
        common = {
            "objective": kt.Objective("score", direction=direction),
            "seed": seed,
            "hyperparameters": declare(space),
            "allow_new_entries": False,
            "tune_new_entries": False,
            "max_retries_per_trial": 0,
            "max_consecutive_failed_trials": 1_000_000,  # the session gives up after its own limit
        }
        oracles = kt.oracles
        if self.algorithm == "random":
            return _managed(oracles.RandomSearchOracle)(max_trials=_ID_WIDTH, **common)
        if self.algorithm == "bayesian":
            if importlib.util.find_spec("sklearn") is None:
                raise CnnTuneError("algorithm 'bayesian' needs scikit-learn: pip install scikit-learn")
            initial = max(3, min(10, target // 3))
            return _managed(oracles.BayesianOptimizationOracle)(
                max_trials=_ID_WIDTH, num_initial_points=initial, **common
            )
        if self.algorithm == "hyperband":
            return _managed(oracles.HyperbandOracle)(max_epochs=space.max_epochs(), factor=3, **common)
        from tuner.engines.optuna_engine import OptunaEngine

        OptunaEngine.grid(space)  # the same check: every searched parameter must be discrete
        return _managed(oracles.GridSearchOracle)(max_trials=_ID_WIDTH, **common)

    @staticmethod
    def _check_state_files(project: Path) -> None:
        for path in [project / "oracle.json", *project.glob("tuner*.json"), *project.glob("trial_*/trial.json")]:
            if path.exists():
                try:
                    json.loads(path.read_text())
                except (OSError, ValueError):
                    raise CnnTuneError(
                        f"{path}: keras-tuner's state file is damaged (half-written?); "
                        f"remove {project} to restart the search, the tables stay"
                    ) from None

    def _recover(self, oracle: Any, book: RecordBook) -> None:
        """Trials a dead or interrupted session left: record them failed; bound their restarts."""
        for record in book.all():
            if record.state == "running":
                record.state, record.finished = "failed", _now()
                record.fail_reason = WORKER_DIED
                book.write(record)
        for trial_id in list(oracle._retry_queue):
            oracle._run_times[trial_id] += 1
            if oracle._run_times[trial_id] > _MAX_RESTARTS:
                oracle._retry_queue.remove(trial_id)
                trial = oracle.trials[trial_id]
                trial.status = TrialStatus.FAILED
                trial.message = f"interrupted {oracle._run_times[trial_id]} times; not run again"
                oracle.end_order.append(trial_id)
                oracle._save_trial(trial)
        oracle.save()

    def collect(self, job: SearchJob) -> list[TrialRecord]:
        return RecordBook(job.folder / _RECORDS).all()

    def search(self, job: SearchJob) -> list[TrialRecord]:
        if self.pruner == "exact":
            ExactStop.check(job.space)
        project = job.folder / _PROJECT
        self._check_state_files(project)
        book = RecordBook(job.folder / _RECORDS)
        book.folder.mkdir(parents=True, exist_ok=True)
        oracle = self._oracle(job.space, job.seed, job.trials)
        oracle.start = job.space.start
        tuner = _Tuner(oracle, job.folder, self, job, book)
        self._recover(tuner.oracle, book)
        # keras-tuner reloads only when its tuner file exists, and writes it first after a trial:
        # write it now, or a run killed in its first trial would start over with other values.
        tuner.save()

        exact = ExactStop(job.space.objective.name)
        session = Session(job, job.trials, book.finished, book.all, found=lambda: book.fastest(exact) is not None)
        tuner.session = session
        oracle.should_stop = session.should_stop
        session.start()
        try:
            tuner.search(verbose=0)
        except BaseException:
            session.save()
            raise
        finally:
            session.finish()
        session.save()
        return book.all()
