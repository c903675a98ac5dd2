"""The trial loop every engine shares: when to start a trial, running it, recording it.

An engine only proposes configurations and keeps the study's records (`tuner.engines.base`);
this loop decides when to stop starting trials (count, deadline, stop-when-found, failures in a
row), runs each trial through the trainer with the epoch hook (observer, pruner, stop-when-found),
maps its result to a record, saves the tables, and waits while other workers hold the last slots.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tuner.engines.base import Engine, EpochHook, PackRunner, Proposal, Slot, TrialRunner
from tuner.errors import CnnTuneError, StopTrial, TrialError, interruption
from tuner.pruners import Progress, Pruner, finished_value, ranking_value
from tuner.pruners.finished import Finished
from tuner.records import TrialRecord, TrialResult
from tuner.search.eta import RECENT, study_time_left
from tuner.search.observer import Observer
from tuner.search.settings import Budget
from tuner.space import Space
from tuner.training.schedules import trial_epochs

__all__ = ["FOUND_ELSEWHERE", "LOOK_SECONDS", "SAVE_SECONDS", "TrialLoop", "surplus"]

FOUND_ELSEWHERE = "another trial met the stop rule (stop when found)"
LOOK_SECONDS = 1.0  # how stale the other workers' finished trials may be when a pruner is asked
SAVE_SECONDS = 3.0  # how often, at most, the tables are rewritten from the study during a search


def surplus(number: int, finished: int, running: list[int], target: int) -> bool:
    """Whether trial `number`, just asked for, is one too many: workers that asked at the same moment
    for the study's last slots all got a trial, and the youngest of them give theirs back."""
    over = finished + len(running) - target
    return over > 0 and number in sorted(running, reverse=True)[:over]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _LoopError(Exception):
    """An error of the loop's own raised inside a pack runner's call (the engine's, the disk's): it
    ends the search as it would one trial at a time, not just the pack."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _own(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call`, its errors raised as `_LoopError`, but for a CnnTuneError (a pruner's StopTrial
    among them) and KeyboardInterrupt, which go through as they are."""

    def wrapped(*args: Any) -> Any:
        try:
            return call(*args)
        except CnnTuneError:
            raise
        except Exception as exc:
            raise _LoopError(exc) from exc

    return wrapped


@dataclass
class _Running:
    """A trial the loop started: its proposal, when it started, and its epoch hook."""

    proposal: Proposal
    started: str
    on_epoch: EpochHook


_Flying = dict[int, tuple[_Running, contextlib.ExitStack]]  # a pack's trials in training, by number


class TrialLoop:
    """Runs trials that `engine` proposes until the budget is spent; one per worker process."""

    def __init__(
        self,
        engine: Engine,
        space: Space,
        run_trial: TrialRunner | PackRunner,
        pruner: Pruner,
        budget: Budget,
        observer: Observer,
        save: Callable[[list[TrialRecord]], None],
        poll_seconds: float = 2.0,
        workers: int = 1,
        look_seconds: float | None = None,
        save_seconds: float | None = None,
    ) -> None:
        self.engine, self.space, self.run_trial, self.pruner = engine, space, run_trial, pruner
        self.budget, self.observer, self.save_tables = budget, observer, save
        self.poll_seconds, self.workers = poll_seconds, workers
        # What the pruners compare against: this worker's trials as they finish, the other workers'
        # as of the last look at the study, at most `look_seconds` ago.
        self.finished = Finished()
        self.others_running: list[TrialRecord] = []
        self.look_seconds, self.looked = LOOK_SECONDS if look_seconds is None else look_seconds, -math.inf
        # The study is the record; the tables are rewritten from it at most every `save_seconds` (and
        # never more often than ten times what a rewrite costs), and whenever the loop ends.
        self.save_seconds = SAVE_SECONDS if save_seconds is None else save_seconds
        self.saved, self.save_cost = -math.inf, 0.0
        trials = budget.trials or space.trials
        capacity = engine.capacity()
        self.target = trials if capacity is None else min(trials, capacity)
        self.failures: list[str] = []
        self.exhausted = False  # the engine has nothing left to propose
        self.deadline: float | None = None
        self.ends_at: float | None = None  # the deadline in seconds since the epoch (for the estimate)

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> list[TrialRecord]:
        """Run trials until the study holds the target count of finished ones, time is up, or the
        engine has nothing left to propose; return every record of the study."""
        self.engine.recover()
        self.look()
        self.ends_at = ends_at = self.engine.deadline(self.budget.timeout)
        self.deadline = None if ends_at is None else time.monotonic() + (ends_at - time.time())
        self.observer.search_started(self.target, self.engine.finished())
        try:
            if isinstance(self.run_trial, PackRunner):
                self.run_packs(self.run_trial)
            else:
                while not self.exhausted and not self.should_stop():
                    proposal = self.propose()
                    if proposal is not None:
                        self.trial_done(self.run_one(proposal))
            self.save()  # the trials other workers finished after this one's last
        except BaseException:
            self.save()
            raise
        finally:
            self.observer.search_finished()
        return self.engine.records()

    def propose(self) -> Proposal | None:
        """The engine's next proposal, or None: when the engine has none left (a grid, keras-tuner's
        Hyperband: `exhausted`, said once), or when the proposal is one too many and given back."""
        proposal = self.engine.ask()
        if proposal is None:
            if self.engine.exhausted:
                self.observer.message(self.engine.exhausted)
            self.exhausted = True
            return None
        if surplus(proposal.number, self.engine.finished(), self.engine.running(), self.target):
            self.engine.give_back(proposal)
            return None
        return proposal

    def should_stop(self) -> bool:
        """True when no more trials should start here. While every remaining slot is held by a
        running trial, this worker waits: if the worker running one dies, its slot is queued
        again and taken here, so the study still ends with its full count."""
        while True:
            may = self.may_start()
            if may is not None:
                return not may
            time.sleep(self.poll_seconds)

    def may_start(self) -> bool | None:
        """Whether a trial may start now: False when the search is over (count, time, budget), None
        while every remaining slot is held by a running trial."""
        timed_out = self.deadline is not None and time.monotonic() >= self.deadline
        finished = self.engine.finished()
        if timed_out or finished >= self.target or self.budget_spent():
            return False
        self.engine.recover()  # a dead worker's trial goes back to the queue before the next ask
        if finished + len(self.engine.running()) < self.target:
            return True
        return None

    def budget_spent(self) -> bool:
        """Whether the study holds what the budget asks for beyond a count of trials: a trial that
        met the stop rule (`stop_when_found`), or finished trials that trained `epochs` in all."""
        if not self.budget.stop_when_found and self.budget.epochs is None:
            return False  # nothing to look at the study for
        finished = self.finished_trials()
        if self.budget.stop_when_found and finished.found:
            return True
        return self.budget.epochs is not None and finished.epochs >= self.budget.epochs

    def finished_trials(self) -> Finished:
        """The study's complete and pruned trials, every worker's (the others' as of a look at most
        `look_seconds` ago), with the aggregates the pruners ask for kept up to date."""
        if time.monotonic() - self.looked >= self.look_seconds:
            self.look()
        return self.finished

    def look(self) -> list[TrialRecord]:
        """Read the study: every trial's record; the finished ones join `finished`."""
        records = self.engine.records()
        self.finished.extend(records)
        self.others_running = [r for r in records if r.state == "running"]
        self.looked = time.monotonic()
        return records

    def may_prune(self, progress: Progress, epochs: int, finished: Finished) -> bool:
        """Whether stopping this trial now could save anything. Not at the last epoch it may train
        (it ends there anyway, as a complete trial), not in a one-trial search (no other trial gets
        the epochs), and not the search's last trial while nothing has answered it yet (so that a
        search never ends with nothing complete)."""
        if progress.epoch >= epochs or self.target == 1:
            return False
        if self.answered(finished):
            return True
        others = sum(1 for r in self.others_running if r.trial != progress.number and not finished.holds(r.trial))
        return len(finished) + others + 1 < self.target  # the running trials as of the last look, this one

    def answered(self, finished: Finished) -> bool:
        """Whether the study holds an answer: a trial that met the stop rule (threshold objectives),
        else a complete trial."""
        if self.space.objective.needs_stop:
            return finished.found
        return finished.complete > 0

    # -- one trial -----------------------------------------------------------------------------

    def start(self, proposal: Proposal) -> _Running:
        """Tell the observer that `proposal` starts; its epoch hook asks the pruner after each epoch."""
        started = _now()
        progress = Progress(proposal.number, config=dict(proposal.config))
        epochs = trial_epochs(proposal.config)
        self.observer.trial_started(proposal.number, proposal.config)

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            value = self.space.objective.intermediate(
                logs, self.space.stop, progress.values[-1] if progress.values else None
            )
            progress.values.append(value)
            progress.history.append(logs)
            self.observer.epoch_ended(proposal.number, epoch, epochs, logs)
            finished = self.finished_trials()
            if self.budget.stop_when_found and finished.found:
                raise StopTrial(FOUND_ELSEWHERE)
            self.engine.report(proposal, epoch, value)
            if not self.may_prune(progress, epochs, finished):
                return
            reason = self.pruner.reason(progress, finished)
            if reason:
                raise StopTrial(reason)

        return _Running(proposal, started, on_epoch)

    def finish(self, trial: _Running, result: TrialResult) -> TrialRecord:
        """The trial's record, told to the engine."""
        record = self.record(trial.proposal, result, trial.started)
        self.engine.tell(trial.proposal, record)
        return record

    def interrupt(self, trial: _Running, reason: str) -> None:
        """Record `trial` failed with `reason`; its configuration runs again on resume."""
        record = self.record(trial.proposal, TrialResult(state="failed", fail_reason=reason), trial.started)
        self.engine.interrupted(trial.proposal, record)

    def run_one(self, proposal: Proposal) -> TrialRecord:
        """Train `proposal`'s configuration, with the pruner after each epoch; its record, told to the engine."""
        trial = self.start(proposal)
        assert not isinstance(self.run_trial, PackRunner)
        with self.engine.running_trial(proposal):
            try:
                result = self.run_trial(proposal.config, proposal.seed, trial.on_epoch, self.observer.message)
            except KeyboardInterrupt as exc:
                self.interrupt(trial, interruption(exc))
                raise
            except TrialError as exc:  # a scripted runner may raise what the trainer records
                state = "pruned" if isinstance(exc, StopTrial) else "failed"
                result = TrialResult(state=state, fail_reason=exc.reason)
            except CnnTuneError:
                raise  # a condition every trial would hit (bad data, bad setup)
            except Exception as exc:  # a failed trial is not a failed search
                result = TrialResult(state="failed", fail_reason=f"{type(exc).__name__}: {exc}")
            return self.finish(trial, result)

    # -- packs: several trials trained at once -------------------------------------------------

    def run_packs(self, runner: PackRunner) -> None:
        """Keep `runner`'s slots full of trials until the search is over. Each trial is asked for,
        pruned, recorded and told as one trained alone is. When the runner cannot go on, the trials
        it holds fail with its error and the search goes on; an error of the loop's own (the
        engine's, the disk's), Ctrl-C or SIGTERM ends the search as it does one trial at a time,
        the pack's trials recorded interrupted, to run again on resume."""
        flying: _Flying = {}

        def take() -> Slot | None:
            while not self.exhausted:
                may = self.may_start()
                if may is False:
                    return None
                if may is None:  # the study's last slots are held by running trials
                    if flying:
                        return None  # some of them this pack's: it goes on without a new one
                    time.sleep(self.poll_seconds)
                    continue
                proposal = self.propose()
                if proposal is not None:
                    return self.slot(proposal, flying)
            return None

        try:
            while not self.exhausted and not self.should_stop():
                try:
                    runner.run(_own(take))
                except _LoopError as exc:
                    raise exc.error from None
                except (CnnTuneError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # the pack's program cannot go on: its trials failed
                    if not flying:
                        raise  # nothing it trained to blame: it would fail again at once
                    reason = f"the pack stopped: {type(exc).__name__}: {exc}"
                    for number in list(flying):
                        self.end_slot(flying, number, TrialResult(state="failed", fail_reason=reason))
                for number in list(flying):  # a runner that returned with trials it did not end
                    self.end_slot(flying, number, TrialResult(state="failed", fail_reason="the pack did not end it"))
        except BaseException as exc:
            reason = interruption(exc) if isinstance(exc, KeyboardInterrupt) else f"the search stopped: {exc}"
            for trial, stack in flying.values():
                with stack:
                    self.interrupt(trial, reason)
            flying.clear()
            raise

    def slot(self, proposal: Proposal, flying: _Flying) -> Slot:
        """`proposal` started as a pack's trial, held in `flying` until its slot ends."""
        trial = self.start(proposal)
        stack = contextlib.ExitStack()
        stack.enter_context(self.engine.running_trial(proposal))
        flying[proposal.number] = (trial, stack)

        def end(result: TrialResult) -> None:
            if proposal.number not in flying:
                raise RuntimeError(f"the pack runner ended trial {proposal.number} twice")
            self.end_slot(flying, proposal.number, result)

        def say(text: str) -> None:
            self.observer.message(f"trial {proposal.number}: {text}")

        return Slot(proposal.number, dict(proposal.config), proposal.seed, _own(trial.on_epoch), _own(end), _own(say))

    def end_slot(self, flying: _Flying, number: int, result: TrialResult) -> None:
        """Record and tell the pack's trial `number`; it leaves `flying` once the engine holds its record."""
        trial, stack = flying[number]
        with stack:
            record = self.finish(trial, result)
        del flying[number]
        self.trial_done(record)

    def record(self, proposal: Proposal, result: TrialResult, started: str) -> TrialRecord:
        """The trial's record: its state and result, and its value for the sampler: the objective's
        for a complete trial; for a pruned one of a threshold objective, how far it is from winning
        (not a shortfall that looks better than every complete trial)."""
        data: dict[str, Any] = result.to_dict()
        history = data.pop("history")
        value = None
        if result.state == "complete":
            value = finished_value(self.space, data, self.finished_trials)
        elif result.state == "pruned" and self.space.objective.needs_stop:
            value = ranking_value(self.space, data, history, self.finished_trials(), proposal.config)
        return TrialRecord(
            trial=proposal.number,
            state=result.state,
            params=dict(proposal.params),
            config=dict(proposal.config),
            seed=proposal.seed,
            value=value,
            result=data,
            history=history,
            fail_reason=result.fail_reason,
            started=started,
            finished=_now(),
        )

    def trial_done(self, record: TrialRecord) -> None:
        """Save the tables when due, tell the observer and what time the search still needs; stop after
        too many failures in a row."""
        self.finished.add(record)
        if time.monotonic() - self.saved >= max(self.save_seconds, 10 * self.save_cost):
            self.save()
        self.observer.trial_finished(record)
        recent = self.finished[-2 * RECENT :]
        running = [r for r in self.others_running if not self.finished.holds(r.trial) and r.trial != record.trial]
        trials = ((r.state, r.started, r.finished) for r in [*recent, *running])
        left = study_time_left(trials, self.target, self.workers, self.ends_at, finished_count=len(self.finished))
        self.observer.time_left(left)
        self.failures = [*self.failures, record.fail_reason or ""] if record.state == "failed" else []
        if len(self.failures) >= self.budget.max_consecutive_failures:
            raise CnnTuneError(
                f"stopped after {len(self.failures)} trials in a row failed; the last one: {self.failures[-1]}"
            )

    def save(self) -> list[TrialRecord]:
        """Rewrite the tables from the study's records."""
        start = time.monotonic()
        records = self.look()
        self.save_tables(records)
        self.saved = time.monotonic()
        self.save_cost = self.saved - start
        return records
