"""The keras-tuner engine: keras-tuner's oracles decide what to try, through their public methods.

The space becomes `kt.HyperParameters` (conditional parameters through `conditional_scope`); the
oracle proposes with `create_trial`, hears the outcome through `update_trial` and `end_trial`, and
draws the space's start configurations (and a grid's points) in `populate_space`. keras-tuner's
project folder lives in the run folder; a trial interrupted mid-way is recorded as failed and run
again at most twice (keras-tuner retries it on reload).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from tuner.choices import ALGORITHMS
from tuner.engines.base import Engine, Proposal, Study
from tuner.engines.private import AtomicOracleFiles, save_project
from tuner.errors import WORKER_DIED, CnnTuneError
from tuner.records import TrialRecord, trial_seed
from tuner.runs.store import write_atomic
from tuner.space import Param, Space
from tuner.space.grid import grid_points
from tuner.training.backend import kt

__all__ = ["KerasTunerEngine", "declare"]

_PROJECT = "keras_tuner"
_RECORDS = "kt_trials"
_ID_WIDTH = 99_999  # keras-tuner sizes trial ids by max_trials; the loop counts trials itself
_MAX_RESTARTS = 2
_TUNER_ID = "tuner0"


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
    """One JSON file per trial attempt, written atomically: the engine-neutral records of the run.
    The files are read once, when the book opens; a keras-tuner run has one worker, so the book in
    memory is the files from then on."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.records = {
            record.trial: record
            for record in (TrialRecord(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json")))
        }

    def all(self) -> list[TrialRecord]:
        return [self.records[number] for number in sorted(self.records)]

    def write(self, record: TrialRecord) -> None:
        write_atomic(self.folder / f"{record.trial:05d}.json", json.dumps(asdict(record), default=float) + "\n")
        self.records[record.trial] = record

    def next_number(self) -> int:
        return len(self.records)


class _Proposing:
    """Mixed into a keras-tuner oracle: a grid's points, or the space's start configurations before
    the oracle's own values; how often each trial was handed out (interrupted trials come back)."""

    start: tuple[dict[str, Any], ...] = ()
    grid: list[dict[str, Any]] | None = None
    drawn = 0  # start configurations or grid points handed out so far (kept in oracle.json)
    attempts: dict[str, int]

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if self.grid is not None:
            if self.drawn >= len(self.grid):
                return {"status": "STOPPED", "values": None}
            self.drawn += 1
            return {"status": "RUNNING", "values": dict(self.grid[self.drawn - 1])}
        response = super().populate_space(trial_id)  # type: ignore[misc]
        values = response.get("values") or {}
        fresh = response.get("status") == "RUNNING" and "tuner/trial_id" not in values  # not a promotion
        if fresh and self.drawn < len(self.start):
            self.drawn += 1
            response = {**response, "values": self.fill(self.start[self.drawn - 1], values)}
        return response

    def fill(self, wanted: dict[str, Any], drawn: dict[str, Any]) -> dict[str, Any]:
        """A start entry over the oracle's values: what the entry leaves out keeps the oracle's value,
        and a parameter the entry's values make active is drawn at random."""
        values = {k: v for k, v in drawn.items() if k.startswith("tuner/")}
        hps = kt.HyperParameters()
        for i, hp in enumerate(self.hyperparameters.space):  # type: ignore[attr-defined]
            hps.merge([hp])
            if hps.is_active(hp):
                value = wanted.get(hp.name, drawn.get(hp.name))
                if value is None:
                    value = hp.random_sample(self.seed * 7919 + self.drawn * 101 + i)  # type: ignore[attr-defined]
                hps.values[hp.name] = value
        return {**hps.values, **values}

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "cnn_tune_drawn": self.drawn, "cnn_tune_attempts": self.attempts}  # type: ignore[misc]

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)  # type: ignore[misc]
        self.drawn = int(state.get("cnn_tune_drawn", state.get("cnn_tune_started", 0)))
        self.attempts = dict(state.get("cnn_tune_attempts", {}))


class _Project(kt.engine.base_tuner.BaseTuner):  # type: ignore[misc]
    """keras-tuner's way to give an oracle its project folder and reload it; it runs no trial."""

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("cnn-tune's trial loop runs the trials")


class KerasTunerEngine(Engine):
    name = "keras-tuner"
    algorithms: ClassVar[dict[str, str]] = ALGORITHMS["keras-tuner"]

    def __init__(self, algorithm: str | None = None) -> None:
        super().__init__(algorithm)
        self.oracle: Any = None
        self.book: RecordBook | None = None
        self.spec: Study | None = None

    def default_pruner(self, space: Space) -> str:
        return "none"  # keras-tuner's own behaviour: each trial trains to its stop rule or budget

    def storage_label(self, folder: Path, storage: str | None) -> str:
        if storage is not None:
            raise CnnTuneError(
                "keras-tuner keeps its state in the run folder; a storage URL is for the optuna engine",
                field="storage",
            )
        return str(folder / _PROJECT)

    def oracle_class(self, space: Space, target: int) -> tuple[type, dict[str, Any]]:
        oracles = kt.oracles
        if self.algorithm == "bayesian":
            if importlib.util.find_spec("sklearn") is None:
                raise CnnTuneError("'bayesian' needs scikit-learn: pip install scikit-learn", field="algorithm")
            return oracles.BayesianOptimizationOracle, {
                "max_trials": _ID_WIDTH,
                "num_initial_points": max(3, min(10, target // 3)),
            }
        if self.algorithm == "hyperband":
            return oracles.HyperbandOracle, {"max_epochs": space.max_epochs(), "factor": 3}
        return oracles.RandomSearchOracle, {"max_trials": _ID_WIDTH}  # random; a grid draws its own points

    @staticmethod
    def check_state_files(project: Path) -> None:
        for path in [project / "oracle.json", *project.glob("tuner*.json"), *project.glob("trial_*/trial.json")]:
            if path.exists():
                try:
                    json.loads(path.read_text())
                except (OSError, ValueError):
                    raise CnnTuneError(
                        f"{path}: keras-tuner's state file is damaged (half-written?); "
                        f"remove {project} to restart the search, the tables stay"
                    ) from None

    def open(self, study: Study) -> None:
        space = study.space
        grid = grid_points(space, study.seed) if self.algorithm == "grid" else None
        self.check_state_files(study.folder / _PROJECT)
        cls, options = self.oracle_class(space, study.trials)
        oracle = type(f"Proposing{cls.__name__}", (_Proposing, AtomicOracleFiles, cls), {})(
            objective=kt.Objective("score", direction="min" if space.objective.direction == "minimize" else "max"),
            seed=study.seed,
            hyperparameters=declare(space),
            allow_new_entries=False,
            tune_new_entries=False,
            max_retries_per_trial=0,
            max_consecutive_failed_trials=1_000_000,  # the trial loop gives up after its own limit
            **options,
        )
        oracle.start, oracle.grid, oracle.attempts = space.start, grid, {}
        oracle.verbose = 0  # the trial loop's observer reports progress
        project = _Project(oracle=oracle, hypermodel=None, directory=str(study.folder), project_name=_PROJECT)
        save_project(project)  # a run killed in its first trial resumes with the same values
        self.oracle, self.spec = project.oracle, study
        self.book = RecordBook(study.folder / _RECORDS)

    def capacity(self) -> int | None:
        return None if self.oracle.grid is None else len(self.oracle.grid)

    def records(self) -> list[TrialRecord]:
        assert self.book is not None
        return self.book.all()

    def recover(self) -> None:
        """Attempts a dead or interrupted session left running: record them failed (keras-tuner hands
        their trial out again on reload)."""
        assert self.book is not None
        for record in self.book.all():
            if record.state == "running":
                record.state, record.fail_reason = "failed", WORKER_DIED
                self.book.write(record)

    def ask(self) -> Proposal | None:
        assert self.book is not None and self.spec is not None
        while True:
            trial = self.oracle.create_trial(_TUNER_ID)
            if trial.status != "RUNNING":  # STOPPED: the oracle has tried its whole space
                if self.oracle.grid is None and self.algorithm != "hyperband":
                    self.exhausted = (
                        "keras-tuner's oracle finds no configuration it has not tried (the study holds "
                        f"{len(self.book.all())} trials): the space looks exhausted; widen it or ask for fewer --trials"
                    )
                return None
            attempts = self.oracle.attempts.get(trial.trial_id, 0) + 1
            self.oracle.attempts[trial.trial_id] = attempts
            self.oracle.save()
            if attempts <= 1 + _MAX_RESTARTS:
                break
            trial.status, trial.message = "FAILED", f"interrupted {attempts - 1} times; not run again"
            self.oracle.end_trial(trial)
        values = dict(trial.hyperparameters.values)
        sampled = {k: self.as_declared(k, v) for k, v in values.items() if not k.startswith("tuner/")}
        config = self.spec.space.resolve(sampled)
        budget = values.get("tuner/epochs")
        if budget is not None:  # Hyperband's budget for this round, trained from scratch
            config["epochs"] = min(int(config.get("epochs") or budget), int(budget))
        seed = trial_seed(self.spec.seed, int(trial.trial_id))
        record = TrialRecord(self.book.next_number(), "running", sampled, config, seed)
        self.book.write(record)
        return Proposal(record.trial, sampled, config, seed, handle=trial)

    def as_declared(self, name: str, value: Any) -> Any:
        """keras-tuner hands a boolean choice back as 0 or 1: the space's own value instead."""
        assert self.spec is not None
        param = self.spec.space.param(name)
        if param is not None and param.kind == "choice":
            return next((c for c in param.choices if c == value), value)
        return value

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        assert self.book is not None and self.spec is not None
        self.book.write(record)
        trial = proposal.handle
        if record.state == "failed":
            trial.status, trial.message = "FAILED", record.fail_reason
        else:  # a pruned trial is scored by the loop's ranking value, else as far as it got
            space = self.spec.space
            score = record.value
            if score is None:
                score = space.objective.value(
                    record.result, space.stop, space.missed_at([record.result.get("seconds_per_epoch")])
                )
            self.oracle.update_trial(trial.trial_id, {"score": score})
            trial.status = "COMPLETED"
        self.oracle.end_trial(trial)
        self.oracle.save()  # keras-tuner's end_trial keeps it ongoing on disk: a resume would hand it out again

    def interrupted(self, proposal: Proposal, record: TrialRecord) -> None:
        assert self.book is not None
        self.book.write(record)  # the oracle keeps the trial running: on reload it hands it out again
