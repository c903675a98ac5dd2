"""Every reach into a private attribute of keras-tuner or optuna, in one place, each with its reason.

keras-tuner writes its state files in place, and a `kill -9` in the middle of a write leaves half a
JSON file that no resume can read; the only way to make those writes atomic is to replace the
private methods that write them. optuna's ask-and-tell and storage APIs cover the rest of what
cnn-tune does, but not the score TPE gives its candidates, which cost-tpe changes (`ScoredTPE`),
nor a way to read a journal file's new trials without listing all of them (`journal_trials`), nor
a journal that syncs to the disk once per trial (`TrialDurableJournal`, which also uses the
private `optuna.storages.journal._file.get_lock_file`), nor several writes to a database in one
transaction (`TrialWrites`: optuna commits every parameter and attribute on its own).
`tests/test_private.py` fails loudly when an installed keras-tuner or optuna no longer has one of them.
"""

from __future__ import annotations

import copy
import heapq
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers._tpe.sampler import _get_pruned_trial_score
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import get_lock_file
from optuna.trial import FrozenTrial, TrialState

from tuner.runs.store import write_atomic

__all__ = [
    "JOURNAL_PRIVATE",
    "KERAS_TUNER_PRIVATE",
    "OPTUNA_PRIVATE",
    "RDB_PRIVATE",
    "STUDY_PRIVATE",
    "AtomicOracleFiles",
    "RecentTrials",
    "ScoredTPE",
    "TrialDurableJournal",
    "TrialWrites",
    "journal_trials",
    "pop_waiting_from",
    "save_project",
    "sync_journal",
    "trial_id_of",
    "write_trial",
]

# (class, attribute) pairs this module relies on, checked by the tests against the installed keras-tuner.
KERAS_TUNER_PRIVATE = (
    ("Oracle", "_get_oracle_fname"),  # where oracle.json lives
    ("Oracle", "_get_trial_dir"),  # where a trial's trial.json lives
    ("Oracle", "_save_trial"),  # keras-tuner's only writer of trial.json, called on every change
    ("BaseTuner", "_get_tuner_fname"),  # tuner0.json, whose presence makes keras-tuner reload
)

# (attribute of a TPESampler) this module relies on, checked by the tests against the installed optuna.
OPTUNA_PRIVATE = (
    "_sample",  # one proposal for one search space: the only call that knows the study, space and trial
    "_compute_acquisition_func",  # the candidates' scores, log l(x) - log g(x), of which TPE takes the highest
    "_gamma",  # gamma(n): how many of n finished trials TPE counts as good
)

# (attribute of a JournalStorage, then of its replay result) `journal_trials` relies on.
JOURNAL_PRIVATE = (
    ("JournalStorage", "_thread_lock"),  # held while the journal's new lines are applied
    ("JournalStorage", "_sync_with_backend"),  # applies the journal's new lines, as every public call does
    ("JournalStorage", "_replay_result"),  # the study as the journal describes it, in memory
    ("JournalStorageReplayResult", "_study_id_to_trial_ids"),  # a study's trial ids, in creation order
    ("JournalStorageReplayResult", "_trials"),  # each trial by id
    ("JournalStorage", "_backend"),  # the journal file behind the storage, for `sync_journal`
    ("JournalFileBackend", "_lock"),  # the file lock every writer takes
    ("JournalFileBackend", "_file_path"),
)

# (attribute of a Study, or of a FrozenTrial) `pop_waiting_from` relies on.
STUDY_PRIVATE = (
    ("Study", "_pop_waiting_trial_id"),  # how `ask` takes a queued trial: by listing every trial of the study
    ("Study", "_storage"),  # the storage `ask` claims a queued trial in
    ("FrozenTrial", "_trial_id"),  # the storage's id of a trial, which claiming it needs
    ("Study", "_get_trials"),  # how TPE lists a study's trials (`ScoredTPE`'s bounded history replaces it)
)
# `RecentTrials` also ranks pruned trials with optuna's `samplers._tpe.sampler._get_pruned_trial_score`,
# TPE's own order (imported above: an optuna without it fails at import, and so do the tests).


# (attribute of an RDBStorage, or of optuna's RDB storage module) `TrialWrites` relies on.
RDB_PRIVATE = (
    ("RDBStorage", "_set_trial_param_without_commit"),  # a parameter's row, in a session of ours
    ("RDBStorage", "_set_trial_attr_without_commit"),  # an attribute's row, in a session of ours
    ("RDBStorage", "_set_trial_intermediate_value_without_commit"),  # an epoch's value, in a session of ours
    ("RDBStorage", "scoped_session"),  # the storage's sessions
    ("storage module", "_create_scoped_session"),  # a session that commits once at the end (or rolls back)
    ("models module", "TrialUserAttributeModel"),  # the user attributes' table
    ("Trial", "_trial_id"),  # the storage's id of a trial, which the writes need
)


def trial_id_of(trial: Any) -> int:
    """The storage's id of an asked trial (optuna's Trial keeps it; its public API asks the storage)."""
    return int(trial._trial_id)


class TrialWrites:
    """A trial's parameters and user attributes written in one transaction on a database.

    optuna writes each suggested parameter and each user attribute in a transaction of its own,
    some fifteen per trial, which on a database server costs more than anything else cnn-tune does
    for a trial that trains little. Inside `with TrialWrites(trial, storage) as writes:` the trial's
    `suggest_*` calls hand their parameters here instead of to the storage (the trial keeps them as
    usual); `writes.commit(attrs)` then writes them and `attrs` at once. On any other storage (a
    journal file) every write goes through as optuna makes it. Parameters never committed (the
    process died while sampling) are lost with a trial that never trained. `checked` holds, per
    parameter, a distribution already written to the study: the next trials' are checked against
    it without asking the database for one.
    """

    def __init__(self, trial: Any, storage: Any, checked: dict[str, BaseDistribution]) -> None:
        self.trial, self.storage, self.checked = trial, storage, checked
        self.database = isinstance(storage, optuna.storages.RDBStorage)
        self.params: list[tuple[str, float, BaseDistribution]] = []
        self.study_storage = trial.storage

    def __enter__(self) -> TrialWrites:
        if self.database:
            self.trial.storage = _Deferring(self.study_storage, self.params)
        return self

    def __exit__(self, *exc: object) -> None:
        self.trial.storage = self.study_storage

    def commit(self, attrs: dict[str, Any]) -> None:
        """Write the parameters held back and the user attributes `attrs`."""
        write_trial(self.storage, trial_id_of(self.trial), attrs, self.params, self.checked)
        self.params.clear()


def write_trial(
    storage: Any,
    trial_id: int,
    attrs: dict[str, Any],
    params: list[tuple[str, float, BaseDistribution]] | None = None,
    checked: dict[str, BaseDistribution] | None = None,
    steps: list[tuple[int, float]] | None = None,
) -> None:
    """Write user attributes `attrs`, parameters `params` (name, internal value, distribution) and
    intermediate values `steps` (step, value) of one trial: on a database (an `RDBStorage`) in one
    transaction, on any other storage one by one."""
    if not isinstance(storage, optuna.storages.RDBStorage):
        for name, value, distribution in params or ():
            storage.set_trial_param(trial_id, name, value, distribution)
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        for step, value in steps or ():
            storage.set_trial_intermediate_value(trial_id, step, value)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    checked = {} if checked is None else checked
    with _create_scoped_session(storage.scoped_session, True) as session:
        for name, value, distribution in params or ():
            storage._set_trial_param_without_commit(session, trial_id, name, value, distribution, checked.get(name))
        for key, value in attrs.items():
            storage._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, key, value)
        for step, value in steps or ():
            storage._set_trial_intermediate_value_without_commit(session, trial_id, step, value)
    for name, _, distribution in params or ():
        checked.setdefault(name, distribution)


class _Deferring:
    """A trial's storage that holds back `set_trial_param` (into `params`) and passes on the rest."""

    def __init__(self, storage: Any, params: list[tuple[str, float, BaseDistribution]]) -> None:
        self._storage, self._params = storage, params

    def set_trial_param(self, trial_id: int, name: str, value: float, distribution: BaseDistribution) -> None:
        self._params.append((name, value, distribution))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def pop_waiting_from(study: optuna.Study, waiting: Callable[[], list[FrozenTrial]]) -> None:
    """Make `study.ask()` take its queued trial from `waiting()` (the study's waiting trials, oldest
    first, as the engine's index holds them) instead of listing every trial of the study to find
    one. It claims a trial as optuna does: the first whose state it can set to running."""
    storage = study._storage

    def pop() -> int | None:
        for trial in waiting():
            try:
                if not storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            return int(trial._trial_id)
        return None

    study._pop_waiting_trial_id = pop  # type: ignore[method-assign]


class TrialDurableJournal(JournalFileBackend):
    """optuna's journal file, written under its file lock as optuna writes it, but made durable once
    per finished trial (`sync_journal`) rather than once per line: optuna syncs every line to the
    disk, some twenty per trial, which costs more than the rest of what cnn-tune does for a trial
    that trains little. Other processes read the lines at once either way (they share the page cache),
    and a `kill -9` loses nothing; a power cut can lose the lines of a trial still running."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
        with get_lock_file(self._lock):
            descriptor = os.open(self._file_path, os.O_WRONLY | os.O_APPEND)
            try:
                end = os.lseek(descriptor, 0, os.SEEK_END)
                try:
                    written = 0
                    while written < len(data):
                        written += os.write(descriptor, data[written:])
                except OSError:
                    # A full disk took part of the lines: cut them off, or the next line written after
                    # them would leave a broken line inside the journal, which no reader can pass.
                    os.ftruncate(descriptor, end)
                    raise
            finally:
                os.close(descriptor)

    def sync(self) -> None:
        descriptor = os.open(self._file_path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def sync_journal(storage: Any) -> None:
    """Make a `TrialDurableJournal`'s lines durable (nothing for any other storage)."""
    backend = getattr(storage, "_backend", None)
    if isinstance(backend, TrialDurableJournal):
        backend.sync()


def journal_trials(storage: Any, study_id: int, seen: int, numbers: set[int]) -> list[FrozenTrial] | None:
    """The study's trials numbered `seen` and up, and those in `numbers`, read from a journal file's
    storage after applying its new lines (None for any other storage). optuna's public calls list
    every trial of the study, which costs more with every trial the study holds; the journal keeps
    them in memory, by id, in creation order (a trial's number is its place in that order)."""
    if not isinstance(storage, optuna.storages.JournalStorage):
        return None
    with storage._thread_lock:
        storage._sync_with_backend()
        replay = storage._replay_result
        ids = replay._study_id_to_trial_ids.get(study_id, [])
        picked = [ids[n] for n in sorted(numbers) if n < seen and n < len(ids)] + ids[seen:]
        return [replay._trials[i] for i in picked]


class AtomicOracleFiles:
    """Mixed in before a keras-tuner oracle: oracle.json and each trial.json written through a
    temporary file renamed into place."""

    def save(self) -> None:
        write_atomic(Path(self._get_oracle_fname()), json.dumps(self.get_state()))  # type: ignore[attr-defined]

    def _save_trial(self, trial: Any) -> None:
        folder = Path(self._get_trial_dir(trial.trial_id))  # type: ignore[attr-defined]
        write_atomic(folder / "trial.json", json.dumps(trial.get_state()))


def save_project(tuner: Any) -> None:
    """Write the oracle's and the tuner's state atomically. keras-tuner reloads a project only when
    its tuner file exists, which it first writes after a trial ends: without this, a run killed in
    its first trial would start over with other values."""
    tuner.oracle.save()
    write_atomic(Path(tuner._get_tuner_fname()), json.dumps(tuner.get_state()))


class RecentTrials:
    """A study as TPE sees it once it holds more than `limit` finished trials: TPE's good group (the
    `keep` best trials, as TPE ranks them) and the most recent finished ones, `limit` in all, and
    every running trial. Everything else is the study's own.

    TPE fits its densities to every finished trial (and to every running one, with the constant liar),
    so a proposal costs more the larger the study: 34 ms at 1,000 trials and 342 ms at 10,000 here.
    Its good group is at most the 25 best trials (optuna's default gamma): complete ones by value,
    then pruned ones by how far they got (`_get_pruned_trial_score`). Its other trials are already
    weighted by recency, old ones least (optuna's default weights). Up to `limit` finished trials,
    TPE sees the study itself and proposes exactly what it would. One view serves one proposal: the
    study does not change while TPE proposes (the trial being proposed aside, which TPE leaves out)."""

    def __init__(self, study: optuna.Study, limit: int, keep: int) -> None:
        self.study, self.limit, self.keep = study, limit, keep
        self.best: set[int] | None = None  # the numbers of TPE's good group
        # Each listing by state read and bounded once for the proposal: a journal storage goes through
        # every trial to filter them (10 ms at 10,000 trials), and TPE asks about eight times a proposal.
        self.listed: dict[tuple[TrialState, ...] | None, list[FrozenTrial]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list[FrozenTrial]:
        return self.listing(deepcopy, states)

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return self.listing(deepcopy, states)

    def listing(self, deepcopy: bool, states: Any) -> list[FrozenTrial]:
        key = None if states is None else tuple(states)
        if key not in self.listed:
            self.listed[key] = self.bounded(self.study._get_trials(deepcopy=False, states=states, use_cache=False))
        trials = self.listed[key]
        return [copy.deepcopy(t) for t in trials] if deepcopy else list(trials)

    def bounded(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """`trials` (by number, as optuna lists them); past `limit` finished ones, the good group,
        the most recent finished ones and the running ones."""
        finished = [t for t in trials if t.state != TrialState.RUNNING]
        if len(finished) <= self.limit:
            return trials
        best = self.good_group()
        since = finished[-(self.limit - self.keep)].number
        return [t for t in trials if t.number >= since or t.number in best or t.state == TrialState.RUNNING]

    def good_group(self) -> set[int]:
        """The numbers of the `keep` trials TPE would count as good, in its own order."""
        if self.best is None:
            done = self.study._get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED), use_cache=False
            )
            sign = -1.0 if self.study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
            complete = [
                (sign * t.value, t.number) for t in done if t.state == TrialState.COMPLETE and t.value is not None
            ]
            best = [n for _, n in heapq.nsmallest(self.keep, complete)]  # ties: the older first, as TPE's sort
            if len(best) < self.keep:
                pruned = [t for t in done if t.state == TrialState.PRUNED]
                ranked = heapq.nsmallest(
                    self.keep - len(best), pruned, key=lambda t: (_get_pruned_trial_score(t, self.study), t.number)
                )
                best += [t.number for t in ranked]
            self.best = set(best)
        return self.best


class ScoredTPE(optuna.samplers.TPESampler):
    """optuna's TPESampler whose candidates' scores a subclass may change in `rescore`, and which, past
    `history` finished trials, models the best and the most recent of them (`RecentTrials`)."""

    def __init__(self, history: int | None = None, keep: int = 25, **tpe: Any) -> None:
        super().__init__(**tpe)
        self.asking: tuple[optuna.Study, dict[str, BaseDistribution], int] | None = None
        self.history, self.keep = history, keep
        self.view: tuple[int, RecentTrials] | None = None  # the study as TPE sees it for one trial

    def seen(self, study: optuna.Study, trial: FrozenTrial) -> optuna.Study:
        """The study as TPE models it for `trial`."""
        if self.history is None:
            return study
        if self.view is None or self.view[0] != trial.number or self.view[1].study is not study:
            self.view = (trial.number, RecentTrials(study, self.history, self.keep))
        return self.view[1]  # type: ignore[return-value]

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return super().infer_relative_search_space(self.seen(study, trial), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return super().sample_relative(self.seen(study, trial), trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return super().sample_independent(self.seen(study, trial), trial, param_name, param_distribution)

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self.asking = (study, search_space, trial.number)
        try:
            return super()._sample(study, trial, search_space)
        finally:
            self.asking = None

    def _compute_acquisition_func(self, samples: dict[str, np.ndarray], mpe_below: Any, mpe_above: Any) -> np.ndarray:
        log_ratio = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        if self.asking is None or not samples:
            return log_ratio
        study, space, number = self.asking
        finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        assert self._gamma is not None  # optuna's _sample sets it before it scores candidates
        gamma = min(1.0, self._gamma(finished) / finished) if finished else 1.0
        return self.rescore(study, space, number, gamma, samples, log_ratio)

    def rescore(
        self,
        study: optuna.Study,
        space: dict[str, BaseDistribution],
        number: int,
        gamma: float,
        samples: dict[str, np.ndarray],
        log_ratio: np.ndarray,
    ) -> np.ndarray:
        """The scores of the candidates `samples` (internal values, a column per parameter of `space`)
        for trial `number`; `log_ratio` is TPE's own, `gamma` the share of finished trials it counts as good."""
        return log_ratio
