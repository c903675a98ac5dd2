"""The optuna engine: a space becomes suggest_* calls; proposals come from ask, outcomes go to tell."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from tuner.choices import ALGORITHMS
from tuner.engines.base import Engine, Proposal, Study
from tuner.engines.cost_tpe import TPE_HISTORY, CostTPESampler
from tuner.engines.liveness import new_session, this_worker, worker_is_dead
from tuner.engines.optuna_index import HELD, TrialIndex, config_key
from tuner.engines.optuna_records import DEADLINE_ATTR, SURPLUS_ATTR, recorded_run, write_run
from tuner.engines.optuna_storage import Heartbeat, heartbeat_enabled, open_storage
from tuner.engines.private import ScoredTPE, TrialWrites, pop_waiting_from, sync_journal, trial_id_of, write_trial
from tuner.errors import WORKER_DIED, CnnTuneError
from tuner.records import TrialRecord, trial_seed
from tuner.runs.record import identity_difference, mask_url
from tuner.space import Space
from tuner.space.grid import grid_points

__all__ = ["DEADLINE_ATTR", "OptunaEngine", "suggest"]


# Another host's dead worker is seen by its missed heartbeats, over a minute at least (a grace period of
# several beats): looking for them at most this often costs a query per second, not one per trial.
STALE_CHECK_SECONDS = 1.0
STEPS_SECONDS = 1.0  # on a database, a running trial's epoch values are written at most this often
_REPEATS = 20  # proposals in a row that the study already holds before its space counts as exhausted


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


def _needs(module: str, algorithm: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise CnnTuneError(f"{algorithm!r} needs the {module} package: pip install {module}", field="algorithm")


class OptunaEngine(Engine):
    name = "optuna"
    algorithms: ClassVar[dict[str, str]] = ALGORITHMS["optuna"]

    def __init__(self, algorithm: str | None = None) -> None:
        super().__init__(algorithm)
        self.opened: tuple[str, Any] | None = None  # (url, storage), opened once per engine
        self.optuna_study: optuna.Study | None = None
        self.spec: Study | None = None
        self.grid_size: int | None = None
        self.trials: TrialIndex | None = None  # what the study holds, read incrementally
        self.checked: dict[str, Any] = {}  # per parameter, a distribution the study holds (TrialWrites)
        self.ids: dict[int, int] = {}  # trial number -> the storage's trial id, as asked for
        self.stale_checked = -math.inf  # when the study's heartbeats were last checked (time.monotonic)
        self.steps: dict[int, list[tuple[int, float]]] = {}  # a database's epoch values not yet written, by trial
        self.steps_written: dict[int, float] = {}  # when each trial's were last written (time.monotonic)

    def storage_label(self, folder: Path, storage: str | None) -> str:
        if storage is not None:
            self.storage_at(storage)  # a bad URL fails before the run folder exists
        return storage or f"journal:{folder / 'study.journal'}"

    def storage_at(self, url: str) -> Any:
        """The storage behind `url`, opened once (the check before the run folder, then the study).
        cnn-tune keeps it to record heartbeats and to fail a dead worker's trial."""
        if self.opened is None or self.opened[0] != url:
            self.opened = (url, open_storage(url, self.on_stale))
        return self.opened[1]

    @property
    def storage(self) -> Any:
        assert self.opened is not None, "the engine's storage is not open"
        return self.opened[1]

    @property
    def study(self) -> optuna.Study:
        if self.optuna_study is None:
            raise RuntimeError("the engine's study is not open")
        return self.optuna_study

    # -- opening the study ----------------------------------------------------------------------

    def sampler(self, spec: Study, held: int = 0) -> optuna.samplers.BaseSampler:
        """The algorithm's sampler. Its seed is the worker's and, on a resume, how many trials the
        study holds: a restarted worker seeded as before would replay its earlier draws."""
        seed = spec.seed if spec.sampler_seed is None else spec.sampler_seed
        seed = (seed + 104_729 * held) % 2**32
        if self.algorithm in ("tpe", "cost-tpe"):
            tpe: dict[str, Any] = {
                "seed": seed,
                # optuna's default of 10 random start-up trials would outlast a whole search on a
                # CPU, whose budget trains a handful of CNN trials; TPE models the space from 5 on.
                "n_startup_trials": max(3, min(5, spec.trials // 4)),
                "multivariate": True,
                "group": True,
                "constant_liar": True,
            }
            if self.algorithm == "tpe":
                return optuna.samplers.TPESampler(**tpe)  # optuna's own, as a user who asks for it knows it
            dataset = (spec.run_record or {}).get("dataset") or {}
            if spec.space.objective.needs_stop and dataset.get("input_shape"):
                shape = tuple(dataset["input_shape"])
                return CostTPESampler(shape, int(dataset.get("classes", 10)), history=TPE_HISTORY, **tpe)
            return ScoredTPE(history=TPE_HISTORY, **tpe)
        if self.algorithm == "qmc":
            _needs("scipy", "qmc")
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
        if self.algorithm == "cmaes":
            _needs("cmaes", "cmaes")
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        # random; a grid's points are all queued, so its sampler is never asked for a value
        return optuna.samplers.RandomSampler(seed=seed)

    def open(self, spec: Study) -> None:
        new_session()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self.spec = spec
        points = grid_points(spec.space, spec.seed) if self.algorithm == "grid" else None
        self.optuna_study = optuna.create_study(
            study_name=spec.name,
            storage=self.storage_at(self.storage_label(spec.folder, spec.storage)),
            load_if_exists=True,
            direction=spec.space.objective.direction,  # type: ignore[arg-type]
            sampler=self.sampler(spec),
        )
        self.trials = TrialIndex(self.study, self.storage)
        pop_waiting_from(self.study, self.trials.waiting_trials)
        if spec.run_record:
            self.check_same_search(spec)
        held = len(self.study.get_trials(deepcopy=False, states=(*HELD, TrialState.FAIL)))
        if held:  # a resume, or a worker joining late: its own draws, not the first session's again
            self.study.sampler = self.sampler(spec, held)
        if points is not None:
            # The grid is a queue of its points: workers share it, and a resumed run finds the rest.
            self.grid_size = len(points)
            tried = [t.params for t in self.study.get_trials(deepcopy=False)]
            for params in points:
                if params not in tried:
                    self.study.enqueue_trial(params, skip_if_exists=True)
        elif spec.space.start and not self.study.get_trials(deepcopy=False):
            # A new study tries the space's start configurations first (workers that join later
            # find them queued); the sampler fills in any parameter an entry leaves out.
            for params in spec.space.start:
                self.study.enqueue_trial(params, skip_if_exists=True)

    def check_same_search(self, spec: Study) -> None:
        """The first worker records the run in the study (so a report works from any host); a host
        joining with another space, engine, dataset or seed would mix two searches in one study: refused."""
        assert spec.run_record is not None
        storage = self.storage
        recorded = recorded_run(storage, spec.name)
        if recorded is None:
            write_run(storage, spec.name, spec.run_record)
            # optuna-dashboard names the objective axis by the study's metric name
            self.study.set_metric_names([spec.space.objective.name])
            return
        detail = identity_difference(recorded.get("identity", {}), spec.run_record.get("identity", {}))
        if detail:
            raise CnnTuneError(
                f"the study in {mask_url(str(spec.storage))} holds another search ({detail}); "
                "run the command its first host ran, or choose another name",
                field=f"name {spec.name}",
            )

    def capacity(self) -> int | None:
        return self.grid_size

    def deadline(self, timeout: float | None) -> float | None:
        """The first worker with a timeout records its deadline in the study; workers joining while it
        lies ahead (other hosts, spawned workers) keep it, so the timeout is study-wide. Once it has
        passed, the same command is a resume and gets a fresh timeout."""
        if timeout is None:
            return None
        now = time.time()
        shared = self.study.user_attrs.get(DEADLINE_ATTR)
        if isinstance(shared, (int, float)) and shared > now:
            return float(shared)
        self.study.set_user_attr(DEADLINE_ATTR, now + timeout)
        return now + timeout

    # -- what the study holds -------------------------------------------------------------------

    @property
    def index(self) -> TrialIndex:
        """The study's trials, brought up to date (only the new and the open ones are read)."""
        if self.trials is None:
            raise RuntimeError("the engine's study is not open")
        self.trials.refresh()
        return self.trials

    def wrote(self) -> None:
        """This process changed the study: the index reads it again at the next question."""
        if self.trials is not None:
            self.trials.changed()

    def records(self) -> list[TrialRecord]:
        return self.index.all_records()

    def finished(self) -> int:
        return self.index.finished()

    def running(self) -> list[int]:
        return self.index.running()

    # -- proposing and recording ----------------------------------------------------------------

    def ask(self) -> Proposal | None:
        assert self.spec is not None
        index = self.index
        if self.grid_size is not None and not index.waiting():
            return None  # every point of the grid is taken: one that failed is not replaced by a random draw
        for _ in range(_REPEATS):
            trial = self.study.ask()
            self.ids[trial.number] = trial_id_of(trial)
            self.wrote()
            # Claimed at once: a trial with no worker recorded counts as live for a grace period, so
            # a worker killed before this line leaves a trial that a resume waits for.
            trial.set_user_attr("worker", this_worker())
            with TrialWrites(trial, self.storage, self.checked) as writes:  # on a database, one transaction
                config = suggest(trial, self.spec.space)
            if not index.holds(config_key(config)) or self.queued(trial):
                return self.proposal(trial, config, writes)
            writes.commit({SURPLUS_ATTR: True})  # a configuration the study holds: given back unrun
            self.study.tell(trial, state=TrialState.FAIL)
        self.exhausted = (
            f"the sampler proposed {_REPEATS} configurations in a row that the study already holds: the space looks "
            f"exhausted ({index.distinct_held()} distinct configurations tried); widen it or ask for fewer --trials"
        )
        return None

    def queued(self, trial: Trial) -> bool:
        """Whether `trial` came from the queue (a start configuration, a grid point, an interrupted
        trial run again on purpose) rather than from the sampler."""
        return "fixed_params" in self.storage.get_trial_system_attrs(self.trial_id(trial.number))

    def proposal(self, trial: Trial, config: dict[str, Any], writes: TrialWrites) -> Proposal:
        assert self.spec is not None
        seed = trial.user_attrs.get("seed")
        seed = trial_seed(self.spec.seed, trial.number) if seed is None else int(seed)
        writes.commit({"config": config, "seed": seed})
        return Proposal(trial.number, dict(trial.params), config, seed, handle=trial)

    def report(self, proposal: Proposal, epoch: int, value: float) -> None:
        """The study's intermediate values, which optuna-dashboard shows. On a database they are written
        at most every `STEPS_SECONDS` per trial, and with the trial's record when it ends: a
        transaction per epoch would cost more than a trial that trains little."""
        if not isinstance(self.storage, optuna.storages.RDBStorage):
            proposal.handle.report(value, epoch)
            return
        self.steps.setdefault(proposal.number, []).append((epoch, float(value)))
        if time.monotonic() - self.steps_written.get(proposal.number, -math.inf) >= STEPS_SECONDS:
            write_trial(self.storage, self.trial_id(proposal.number), {}, steps=self.steps.pop(proposal.number))
            self.steps_written[proposal.number] = time.monotonic()

    @contextlib.contextmanager
    def running_trial(self, proposal: Proposal) -> Iterator[None]:
        self.steps_written[proposal.number] = time.monotonic()  # its first epochs wait for `STEPS_SECONDS`
        with Heartbeat(self.storage, self.trial_id(proposal.number)):
            yield

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        trial: Trial = proposal.handle
        attrs = {"history": record.history, "result": record.result}
        if record.fail_reason:
            attrs["fail_reason"] = record.fail_reason
        steps = self.steps.pop(proposal.number, [])
        self.steps_written.pop(proposal.number, None)
        if record.state == "pruned" and record.value is not None:
            # optuna takes a pruned trial's last intermediate value as its value, and TPE ranks pruned
            # trials by their last step first (longest trained best), then by that value: every one is
            # told its ranking value at the same step, past the last epoch, so only the value ranks them
            steps.append((self.ranking_step, float(record.value)))
        write_trial(self.storage, self.trial_id(proposal.number), attrs, steps=steps)
        if record.state == "complete":
            told = self.study.tell(trial, record.value)
        else:
            told = self.study.tell(trial, state=TrialState.PRUNED if record.state == "pruned" else TrialState.FAIL)
        sync_journal(self.storage)  # the finished trial is on the disk before the next one starts
        if self.trials is not None:  # the trial as the storage holds it now: nothing to read again
            self.trials.update(told)

    @property
    def ranking_step(self) -> int:
        """The step a pruned trial's ranking value is reported at: one past the space's last epoch."""
        assert self.spec is not None
        return self.spec.space.max_epochs() + 1

    def interrupted(self, proposal: Proposal, record: TrialRecord) -> None:
        self.requeue(dict(proposal.handle.params), proposal.seed)
        self.tell(proposal, record)

    def give_back(self, proposal: Proposal) -> None:
        proposal.handle.set_user_attr(SURPLUS_ATTR, True)
        self.study.tell(proposal.handle, state=TrialState.FAIL)
        self.wrote()

    # -- trials of dead workers -----------------------------------------------------------------

    def trial_id(self, number: int) -> int:
        """The storage's id of trial `number` (optuna's storage API speaks in ids, studies in numbers)."""
        if number not in self.ids:
            study_id = self.index.study_id
            self.ids[number] = int(self.storage.get_trial_id_from_study_id_trial_number(study_id, number))
        return self.ids[number]

    def requeue(self, params: dict[str, Any], seed: Any) -> None:
        """Queue an interrupted trial's configuration and seed: its slot runs again before the sampler
        proposes anything new (after the start configurations still queued, if any)."""
        if params:
            self.study.enqueue_trial(params, user_attrs={"seed": seed}, skip_if_exists=False)
            self.wrote()

    def on_stale(self, study: optuna.Study, t: FrozenTrial) -> None:
        """optuna failed `t` for missed heartbeats (its host died or lost the database): run it again.
        The trial is already finished here, so it cannot take a fail_reason; `_stale_reason` names it."""
        self.requeue(dict(t.params), t.user_attrs.get("seed"))

    def recover(self) -> None:
        """Fail the trials whose worker died mid-trial (kill -9, power loss) and queue them again.

        A dead process on this host is seen at once; one on another host by its missed heartbeats
        (database storages). When several workers look at once, only the one whose state change
        lands queues the trial again.
        """
        storage = self.storage
        if heartbeat_enabled(storage) and time.monotonic() - self.stale_checked >= STALE_CHECK_SECONDS:
            optuna.storages.fail_stale_trials(self.study)  # calls `_stale` for each trial it fails
            self.stale_checked = time.monotonic()
        for t in self.index.running_trials():
            if worker_is_dead(t.user_attrs.get("worker"), t.datetime_start):
                trial_id = self.trial_id(t.number)
                try:
                    storage.set_trial_user_attr(trial_id, "fail_reason", WORKER_DIED)
                    if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                        continue
                except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
                    continue  # another worker got there first
                self.wrote()
                self.requeue(dict(t.params), t.user_attrs.get("seed"))
