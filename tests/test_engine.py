from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import CONSTANT_RATE, GRID_CELLS, SPACES, grid_space, make_settings, scripted_runner

from tuner.errors import CnnTuneError
from tuner.search import run_search
from tuner.search.observer import Observer
from tuner.space import load_space


def search(tmp_path: Path, runner: Any, **options: Any) -> Any:
    settings = make_settings(**{"space": "exercise3", "out": tmp_path, "trials": 4, **options})
    return run_search(settings, run_trial=runner)


def test_runs_the_asked_number_of_trials_and_writes_tables(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner()
    outcome = search(tmp_path, runner, trials=5, pruner="none")
    folder = outcome.store.path
    assert folder == tmp_path / "exercise3-optuna-cost-tpe"
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 5 and set(trials["state"]) == {"complete"}
    for column in (
        "trial",
        "state",
        "params_filters",
        "params_learning_rate",
        "epochs_run",
        "reached_threshold",
        "epochs_to_threshold",
        "train_accuracy",
        "val_accuracy",
        "test_accuracy",
        "conv_layers",
        "pool_layers",
        "param_count",
        "fit_seconds",
        "seconds_per_epoch",
        "fail_reason",
    ):
        assert column in trials.columns, column
    assert (folder / "trials.parquet").exists() and (folder / "history.parquet").exists()
    history = pd.read_csv(folder / "history.csv")
    assert history.groupby("trial")["epoch"].max().tolist() == trials["epochs_run"].tolist()
    assert (folder / "best" / "config.json").exists() and (folder / "leaderboard.md").exists()
    assert [c["config"]["conv_layers"] for c in runner.calls] == [1] * 5


def test_same_seed_same_proposals_different_seed_differs(tmp_path: Path, tiny_data: Path) -> None:
    def proposals(seed: int, name: str) -> list[dict]:
        runner = scripted_runner()
        search(tmp_path, runner, seed=seed, name=name, algorithm="random")
        return [c["config"] for c in runner.calls]

    assert proposals(1, "a") == proposals(1, "b")
    assert proposals(1, "a") != proposals(2, "c")


def test_conditional_parameters_exist_only_when_active(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner()
    search(tmp_path, runner, space="course-cnn", trials=8, algorithm="random", max_epochs=2)
    for call in runner.calls:
        config = call["config"]
        depth = config["conv_layers"]
        assert [f"filters_{k}" in config for k in (1, 2, 3)] == [k <= depth for k in (1, 2, 3)]


def test_exact_pruner_stops_trials_that_cannot_win(tmp_path: Path, tiny_data: Path) -> None:
    # filters 64 reaches the threshold fastest; slower trials are cut at the best epoch so far.
    runner = scripted_runner(speed=lambda c: c["filters"] / 16)
    outcome = search(tmp_path, runner, trials=8, algorithm="random", seed=3, pruner="exact", pins=CONSTANT_RATE)
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    reached = trials[trials["reached_threshold"] == True]  # noqa: E712
    pruned = trials[trials["state"] == "pruned"]
    assert len(pruned) > 0
    for _, row in pruned.iterrows():
        earlier = reached[reached["trial"] < row["trial"]]
        assert row["epochs_run"] == earlier["epochs_to_threshold"].min()
        assert "reached it at epoch" in row["fail_reason"]
    # No pruned trial could have won: its accuracy curve is never faster than the best.
    board = pd.read_csv(outcome.store.path / "trials.csv").sort_values("value")
    assert board.iloc[0]["state"] == "complete"


def test_failed_trials_are_recorded_and_the_search_goes_on(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(fail_when=lambda c: "loss became nan at epoch 2" if c["filters"] == 64 else None)
    outcome = search(tmp_path, runner, trials=4, algorithm="random", seed=5, pruner="none", no_start=True)
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    failed = trials[trials["state"] == "failed"]
    assert len(failed) >= 1 and set(failed["fail_reason"]) == {"loss became nan at epoch 2"}
    assert (trials["state"] == "complete").sum() == 4


def test_a_run_where_every_trial_fails_stops_with_the_reason(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(fail_when=lambda c: "out of memory: OOM when allocating")
    with pytest.raises(CnnTuneError, match=r"stopped after 5 trials in a row failed; the last one: out of memory"):
        search(tmp_path, runner, trials=3)


def test_resume_keeps_finished_trials_and_counts_the_whole_study(tmp_path: Path, tiny_data: Path) -> None:
    first = scripted_runner()
    search(tmp_path, first, trials=3)
    second = scripted_runner()
    outcome = search(tmp_path, second, trials=5)
    assert len(first.calls) == 3 and len(second.calls) == 2
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert trials["trial"].tolist() == [0, 1, 2, 3, 4]
    third = scripted_runner()
    search(tmp_path, third, trials=5)
    assert third.calls == []


def test_resume_refuses_a_different_search_in_the_same_folder(tmp_path: Path, tiny_data: Path) -> None:
    search(tmp_path, scripted_runner(), trials=1, name="run")
    with pytest.raises(CnnTuneError, match=r"holds another search \(seed=0\); give the run a new name"):
        search(tmp_path, scripted_runner(), trials=1, name="run", seed=9)


class InterruptAt(Observer):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.seen = 0

    def epoch_ended(self, number: int, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        self.seen += 1
        if self.seen == self.epoch:
            raise KeyboardInterrupt


def test_ctrl_c_marks_the_running_trial_and_resume_reruns_its_slot(tmp_path: Path, tiny_data: Path) -> None:
    settings = make_settings(space="exercise3", out=tmp_path, trials=3, pruner="none")
    outcome = run_search(settings, InterruptAt(epoch=7), run_trial=scripted_runner(speed=lambda c: 0.5))
    assert outcome.interrupted
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    interrupted = trials[trials["state"] == "failed"]
    assert interrupted["fail_reason"].tolist() == ["interrupted by the user (Ctrl-C)"]
    done_before = int((trials["state"] == "complete").sum())
    runner = scripted_runner(speed=lambda c: 0.5)
    run_search(settings, run_trial=runner)
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert int((trials["state"] == "complete").sum()) == 3
    assert len(runner.calls) == 3 - done_before
    # The interrupted configuration and seed are run again (after any start configuration still queued),
    # before the sampler proposes anything new.
    later = trials[trials["trial"] > interrupted["trial"].max()].head(len(load_space("exercise3").start))
    same = (later["config"] == interrupted.iloc[0]["config"]) & (later["seed"] == interrupted.iloc[0]["seed"])
    assert same.sum() == 1


def test_grid_runs_the_whole_table(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner()
    search(tmp_path, runner, space=str(grid_space(tmp_path)), algorithm="grid", trials=100, pruner="none")
    assert sorted((c["config"]["filters"], c["config"]["kernel_size"]) for c in runner.calls) == GRID_CELLS


def test_a_grid_point_that_fails_is_recorded_and_nothing_else_is_drawn(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner(
        fail_when=lambda c: "loss became nan" if (c["filters"], c["kernel_size"]) == (32, 5) else None
    )
    outcome = search(tmp_path, runner, space=str(grid_space(tmp_path)), algorithm="grid", trials=100, pruner="none")
    assert sorted((c["config"]["filters"], c["config"]["kernel_size"]) for c in runner.calls) == GRID_CELLS
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    assert trials["state"].tolist().count("failed") == 1 and len(trials) == len(GRID_CELLS)


def test_grid_trains_each_distinct_model_once_and_in_full(tmp_path: Path, tiny_data: Path) -> None:
    # convnet with blocks and head pinned: lr_annealing on/off x lr_patience 1-3 (only when on) = 4 models.
    runner = scripted_runner(speed=lambda c: 0.2 + 0.1 * c.get("lr_patience", 0))
    outcome = search(
        tmp_path, runner, space="convnet", algorithm="grid", trials=100, max_epochs=3, pins=["blocks=2", "head=gap"]
    )
    configs = [c["config"] for c in runner.calls]
    assert sorted((c["lr_annealing"], c.get("lr_patience")) for c in configs) == [
        (False, None),
        (True, 1),
        (True, 2),
        (True, 3),
    ]
    assert {(c["blocks"], c["head"]) for c in configs} == {(2, "gap")}
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    # val_accuracy objective: a grid is a table, so no pruner unless asked for.
    assert set(trials["state"]) == {"complete"} and set(trials["epochs_run"]) == {3}
    run = json.loads((outcome.store.path / "run.json").read_text())
    assert run["pruner"] == "none" and run["space"]["params"]["blocks"] == 2


def test_pinned_values_resume_only_the_same_run(tmp_path: Path, tiny_data: Path) -> None:
    search(tmp_path, scripted_runner(), trials=2, pins=["filters=32"], name="pinned")
    with pytest.raises(CnnTuneError, match=r"holds another search \(set=\{.filters.: 32\}\)"):
        search(tmp_path, scripted_runner(), trials=3, pins=["filters=64"], name="pinned")
    with pytest.raises(CnnTuneError, match=r"holds another search"):  # nor without the pin
        search(tmp_path, scripted_runner(), trials=3, name="pinned")
    again = scripted_runner()
    search(tmp_path, again, trials=3, pins=["filters=32"], name="pinned")
    assert [c["config"]["filters"] for c in again.calls] == [32]


def test_exact_pruner_on_training_seconds(tmp_path: Path, tiny_data: Path) -> None:
    # More filters need fewer epochs but each epoch costs (filters/16)^2 s: 16 filters are fastest in seconds.
    text = (
        (SPACES / "exercise3.yaml")
        .read_text()
        .replace("objective: epochs_to_threshold", "objective: time_to_threshold")
    )
    (tmp_path / "timed.yaml").write_text(text)
    runner = scripted_runner(speed=lambda c: c["filters"] / 16, epoch_seconds=lambda c: (c["filters"] / 16) ** 2)
    outcome = search(
        tmp_path, runner, space=str(tmp_path / "timed.yaml"), trials=8, algorithm="random", seed=3, pruner="exact",
        pins=CONSTANT_RATE,
    )  # fmt: skip
    trials = pd.read_csv(outcome.store.path / "trials.csv")
    run = json.loads((outcome.store.path / "run.json").read_text())
    assert run["pruner"] == "exact"
    pruned = trials[trials["state"] == "pruned"]
    assert len(pruned) > 0
    reached = trials[trials["reached_threshold"] == True]  # noqa: E712
    for _, row in pruned.iterrows():
        best = reached[reached["trial"] < row["trial"]]["seconds_to_threshold"].min()
        # stopped at the first epoch end at or past the best time, not one epoch later
        assert best <= row["fit_seconds"] < best + row["fit_seconds"] / row["epochs_run"]
        assert "s of training" in row["fail_reason"]
    board = trials.sort_values("value")
    assert board.iloc[0]["params_filters"] == 16 and board.iloc[0]["state"] == "complete"


def test_grid_refuses_a_continuous_range(tmp_path: Path, tiny_data: Path) -> None:
    with pytest.raises(CnnTuneError, match=r"params\.learning_rate: grid search needs discrete values"):
        search(tmp_path, scripted_runner(), algorithm="grid")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "sklearn"}, r"unknown engine 'sklearn'; choose from: keras-tuner, optuna"),
        (
            {"algorithm": "annealing"},
            r"unknown algorithm 'annealing' for engine optuna; choose from: cmaes, cost-tpe, grid",
        ),
        (
            {"pruner": "eager"},
            r"^pruner: unknown pruner 'eager'; choose from: exact, curve, ladder, median, hyperband, none, or a chain",
        ),
        ({"trials": 0}, r"^trials: must be at least 1, got 0"),
        ({"timeout": -1.0}, r"^timeout: must be a positive number of seconds"),
        ({"space": "course-cnn", "pruner": "exact"}, r"^pruner: 'exact' needs a threshold objective"),
        ({"storage": "nosuchdb://x"}, r"^storage nosuchdb://x: cannot open the study storage"),
    ],
)
def test_bad_options(tmp_path: Path, tiny_data: Path, options: dict, message: str) -> None:
    with pytest.raises(CnnTuneError, match=message):
        search(tmp_path, scripted_runner(), **options)


def test_timeout_is_study_wide(tmp_path: Path, tiny_data: Path) -> None:
    import time

    import optuna

    from tuner.engines.optuna_engine import DEADLINE_ATTR

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="timed", storage=url, direction="minimize")
    study.set_user_attr(DEADLINE_ATTR, time.time() + 1.5)  # another host started this study's clock
    slow = scripted_runner(epoch_seconds=lambda c: 0.0)

    def runner(config: dict, seed: int, on_epoch: Any, say: Any) -> Any:
        time.sleep(0.4)
        return slow(config, seed, on_epoch, say)

    started = time.monotonic()
    search(tmp_path, runner, trials=100, timeout=7200, storage=url, name="timed", pruner="none")
    assert time.monotonic() - started < 10 and 1 <= len(slow.calls) <= 6  # it kept the study's deadline
    # Once that deadline has passed, the same command is a resume with a fresh --timeout.
    again = scripted_runner()
    search(tmp_path, again, trials=len(slow.calls) + 2, timeout=7200, storage=url, name="timed", pruner="none")
    assert len(again.calls) == 2
    assert optuna.load_study(study_name="timed", storage=url).user_attrs[DEADLINE_ATTR] > time.time() + 7000


def test_workers_that_ask_for_the_last_slot_together_give_the_youngest_trials_back() -> None:
    from tuner.search.loop import surplus

    # one trial finished; three workers asked for the last two slots at once and got trials 1, 2, 3
    racing = [1, 2, 3]
    assert [surplus(n, finished=1, running=racing, target=3) for n in racing] == [False, False, True]
    assert not any(surplus(n, finished=1, running=racing, target=4) for n in racing)


def test_a_host_with_another_search_cannot_join_a_shared_study(tmp_path: Path, tiny_data: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    search(tmp_path / "host1", scripted_runner(), trials=2, storage=url, name="shared")
    with pytest.raises(CnnTuneError, match=r"^name shared: the study in sqlite:.* holds another search \(seed=0\)"):
        search(tmp_path / "host2", scripted_runner(), trials=2, storage=url, name="shared", seed=1)
    joined = scripted_runner()  # the same command from another folder joins
    search(tmp_path / "host3", joined, trials=3, storage=url, name="shared")
    assert len(joined.calls) == 1


def test_any_optuna_storage_url(tmp_path: Path, tiny_data: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    outcome = search(tmp_path, scripted_runner(), trials=2, storage=url)
    assert (tmp_path / "study.db").exists() and not (outcome.store.path / "study.journal").exists()
    again = scripted_runner()
    search(tmp_path, again, trials=3, storage=url)
    assert len(again.calls) == 1


def test_a_database_study_holds_what_a_journal_study_holds(tmp_path: Path, tiny_data: Path) -> None:
    """On a database cnn-tune writes a trial's parameters, attributes and epoch values in a few
    transactions of its own; each trial must read back as optuna's own writes make it on a journal:
    its parameters, its configuration, seed, history and result, a value per epoch it trained, and
    a pruned trial's ranking value. (The proposals differ: a database study is shared, so each
    process draws its own.)"""
    import optuna

    def study(where: str, storage: str | None) -> list[optuna.trial.FrozenTrial]:
        runner = scripted_runner(speed=lambda c: c["filters"] / 16)
        outcome = search(tmp_path / where, runner, name="same", trials=8, seed=5, no_start=True, storage=storage)
        if storage is None:
            journal = optuna.storages.journal.JournalFileBackend(str(outcome.store.path / "study.journal"))
            return optuna.load_study(study_name="same", storage=optuna.storages.JournalStorage(journal)).trials
        return optuna.load_study(study_name="same", storage=storage).trials

    def shape(trial: optuna.trial.FrozenTrial) -> tuple:
        attrs, config = trial.user_attrs, trial.user_attrs["config"]
        assert trial.params and all(config[k] == v for k, v in trial.params.items())
        epochs = attrs["result"]["epochs_run"]
        assert len(attrs["history"]) == epochs
        steps = sorted(trial.intermediate_values)
        reported = [s for s in steps if s <= 20]  # exercise3's epochs
        ranked = [s for s in steps if s > 20]  # a pruned trial's ranking value, past the last epoch
        assert reported == list(range(1, len(reported) + 1)) and len(reported) in (epochs - 1, epochs)
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert len(ranked) == 1 and trial.value == trial.intermediate_values[ranked[0]]
        else:
            assert ranked == []
        return trial.state, tuple(sorted(set(attrs) - {"fail_reason"})), len(ranked), epochs - len(reported)

    journal = [shape(t) for t in study("journal", None)]
    database = [shape(t) for t in study("database", f"sqlite:///{tmp_path / 'study.db'}")]
    assert (
        {s[0] for s in journal}
        == {s[0] for s in database}
        == {
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
        }
    )
    assert {s[1:] for s in journal if s[2]} == {s[1:] for s in database if s[2]}  # pruned ones alike
    assert {s[1:] for s in journal if not s[2]} == {s[1:] for s in database if not s[2]}


def starts() -> list[dict]:
    return list(load_space("exercise3").start)


def drawn(calls: list[dict]) -> list[dict]:
    """The searched values of each call, in the shape of a start entry."""
    keys = starts()[0].keys()
    return [{k: c["config"][k] for k in keys if k in c["config"]} for c in calls]


def test_a_new_study_tries_the_spaces_start_configurations_first(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner()
    search(tmp_path, runner, trials=4, name="started")
    assert drawn(runner.calls)[:2] == starts()
    assert not any(d in starts() for d in drawn(runner.calls)[2:])
    resumed = scripted_runner()
    search(tmp_path, resumed, trials=6, name="started")  # resuming queues nothing again
    assert len(resumed.calls) == 2 and not any(d in starts() for d in drawn(resumed.calls))
    skipped = scripted_runner()
    search(tmp_path, skipped, trials=2, name="no-start", no_start=True)
    assert not any(d in starts() for d in drawn(skipped.calls))


def test_set_overrides_a_start_entry_and_the_sampler_fills_in(tmp_path: Path, tiny_data: Path) -> None:
    runner = scripted_runner()
    search(tmp_path, runner, trials=1, pins=["filters=64"])
    first = runner.calls[0]["config"]
    assert first == {**first, **starts()[0], "filters": 64}
