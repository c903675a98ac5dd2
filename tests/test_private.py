"""Private attributes of optuna and keras-tuner: none outside one adapter, and each there still exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ENGINES = Path(__file__).resolve().parent.parent / "tuner" / "engines"


def test_no_private_attribute_outside_the_adapter() -> None:
    reaches = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(ENGINES.glob("*.py"))
        if path.name != "private.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\._[a-z]", line)
    ]
    assert reaches == []


@pytest.mark.parametrize("owner, attribute", __import__("tuner.engines.private", fromlist=["x"]).KERAS_TUNER_PRIVATE)
def test_the_installed_keras_tuner_still_has_each_private_attribute(owner: str, attribute: str) -> None:
    from tuner.training.backend import kt

    classes = {"Oracle": kt.Oracle, "BaseTuner": kt.engine.base_tuner.BaseTuner}
    assert hasattr(classes[owner], attribute), (
        f"keras-tuner {kt.__version__} no longer has {owner}.{attribute}: update tuner/engines/private.py"
    )


@pytest.mark.parametrize("attribute", __import__("tuner.engines.private", fromlist=["x"]).OPTUNA_PRIVATE)
def test_the_installed_optuna_tpe_still_has_each_private_attribute(attribute: str) -> None:
    import optuna

    assert hasattr(optuna.samplers.TPESampler(), attribute), (
        f"optuna {optuna.__version__} no longer has TPESampler.{attribute}: update tuner/engines/private.py"
    )


@pytest.mark.parametrize("owner, attribute", __import__("tuner.engines.private", fromlist=["x"]).JOURNAL_PRIVATE)
def test_the_installed_optuna_journal_still_has_each_private_attribute(
    owner: str, attribute: str, tmp_path: Path
) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    objects = {
        "JournalStorage": storage,
        "JournalStorageReplayResult": storage._replay_result,
        "JournalFileBackend": storage._backend,
    }
    assert hasattr(objects[owner], attribute), (
        f"optuna {optuna.__version__} no longer has {owner}.{attribute}: update tuner/engines/private.py"
    )


def test_journal_trials_reads_what_optunas_public_calls_list(tmp_path: Path) -> None:
    """The new trials and the open ones, as `get_all_trials` gives them, also those another process wrote."""
    import optuna
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    from tuner.engines.private import journal_trials

    path = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="s", storage=optuna.storages.JournalStorage(JournalFileBackend(path)))
    other = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(JournalFileBackend(path)))
    done = [study.ask() for _ in range(4)]
    for trial in done[:3]:
        study.tell(trial, 1.0)
    other.tell(other.ask(), 2.0)  # written by another storage object: read from the file's new lines
    storage = study._storage
    study_id = storage.get_study_id_from_name("s")
    every = storage.get_all_trials(study_id, deepcopy=False)
    read = journal_trials(storage, study_id, 0, set())
    assert read is not None and [t.number for t in read] == [t.number for t in every] == [0, 1, 2, 3, 4]
    picked = journal_trials(storage, study_id, 4, {3})
    assert picked is not None
    assert [(t.number, t.state) for t in picked] == [(3, TrialState.RUNNING), (4, TrialState.COMPLETE)]
    assert journal_trials(object(), study_id, 0, set()) is None


def test_the_trial_durable_journal_writes_what_optunas_reads(tmp_path: Path) -> None:
    """Lines written without a sync per line read back in this process and in another storage object."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from tuner.engines.private import TrialDurableJournal, sync_journal

    path = str(tmp_path / "s.journal")
    storage = optuna.storages.JournalStorage(TrialDurableJournal(path))
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.suggest_int("x", 1, 9)
    study.tell(trial, 3.0)
    sync_journal(storage)
    sync_journal(object())  # any other storage: nothing to do
    again = optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(JournalFileBackend(path)))
    assert [(t.params, t.value) for t in again.trials] == [(trial.params, 3.0)]


@pytest.mark.parametrize("owner, attribute", __import__("tuner.engines.private", fromlist=["x"]).STUDY_PRIVATE)
def test_the_installed_optuna_study_still_has_each_private_attribute(owner: str, attribute: str) -> None:
    import optuna

    study = optuna.create_study()
    study.enqueue_trial({"x": 1})
    objects = {"Study": study, "FrozenTrial": study.get_trials()[0]}
    assert hasattr(objects[owner], attribute), (
        f"optuna {optuna.__version__} no longer has {owner}.{attribute}: update tuner/engines/private.py"
    )


def test_ask_takes_the_queued_trials_from_the_index_in_order() -> None:
    import optuna
    from optuna.trial import TrialState

    from tuner.engines.private import pop_waiting_from

    study = optuna.create_study()
    for x in (3, 5):
        study.enqueue_trial({"x": x})
    pop_waiting_from(study, lambda: study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    drawn = [study.ask() for _ in range(3)]
    assert [t.suggest_int("x", 0, 9) for t in drawn[:2]] == [3, 5]  # the queue, first in first out
    assert [t.number for t in drawn] == [0, 1, 2]
    assert not study.get_trials(states=(TrialState.WAITING,))


@pytest.mark.parametrize("owner, attribute", __import__("tuner.engines.private", fromlist=["x"]).RDB_PRIVATE)
def test_the_installed_optuna_rdb_storage_still_has_each_private_attribute(
    owner: str, attribute: str, tmp_path: Path
) -> None:
    import optuna
    from optuna.storages._rdb import models
    from optuna.storages._rdb import storage as module

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(storage=storage)
    objects = {"RDBStorage": storage, "storage module": module, "models module": models, "Trial": study.ask()}
    assert hasattr(objects[owner], attribute), (
        f"optuna {optuna.__version__} no longer has {owner}.{attribute}: update tuner/engines/private.py"
    )


def test_trial_writes_on_a_database_hold_what_optunas_own_writes_hold(tmp_path: Path) -> None:
    """Parameters and user attributes written in one transaction read back as optuna's own writes do;
    a distribution that changes for a parameter the study holds is refused as optuna refuses it."""
    import optuna

    from tuner.engines.private import TrialWrites, write_trial

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    checked: dict = {}
    trials = []
    for _ in range(2):
        trial = study.ask()
        with TrialWrites(trial, storage, checked) as writes:
            x, n = trial.suggest_float("x", 0.0, 1.0), trial.suggest_categorical("n", [16, 32])
        assert storage.get_trial(trial._trial_id).params == {}  # held back until the commit
        writes.commit({"config": {"x": x, "n": n}, "seed": 3})
        write_trial(storage, trial._trial_id, {"result": {"ok": True}})
        study.tell(trial, x)
        trials.append((trial.number, x, n))
    for number, x, n in trials:
        frozen = study.trials[number]
        assert frozen.params == {"x": x, "n": n}
        assert frozen.user_attrs == {"config": {"x": x, "n": n}, "seed": 3, "result": {"ok": True}}
    assert set(checked) == {"x", "n"}
    trial = study.ask()
    with TrialWrites(trial, storage, {}) as writes:
        trial.suggest_int("n", 16, 32)  # a categorical parameter in the study
    with pytest.raises(ValueError, match="different distribution kind"):
        writes.commit({})
