"""The cost model (seconds per epoch from the layer plan) and cost-tpe, the sampler that weighs by it."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from tuner.engines.base import Study
from tuner.engines.cost import MIN_TIMED, CostModel, epoch_seconds, features
from tuner.engines.cost_tpe import TPE_HISTORY, CostTPESampler, log_improvement
from tuner.engines.optuna_engine import OptunaEngine
from tuner.engines.private import RecentTrials, ScoredTPE
from tuner.space import load_space
from tuner.training.architecture import layer_plan, plan_work

MNIST = ((28, 28, 1), 10)


def config(filters: int = 32, kernel: int = 3, dense: int = 128, batch: int = 32, bn: bool = False) -> dict[str, Any]:
    return {
        "conv_layers": 1,
        "pooling": "every",
        "filters": filters,
        "kernel_size": kernel,
        "dense_units": dense,
        "batch_size": batch,
        "batch_norm": bn,
    }


def test_plan_work_counts_multiply_adds_and_normalised_values() -> None:
    work = plan_work(layer_plan(config(bn=True), *MNIST))
    conv = (3 * 3 * 1 + 1) * 32 * 26 * 26  # each weight at each of the 26x26 output positions
    dense = (13 * 13 * 32 + 1) * 128 + (128 + 1) * 10
    assert work == {"macs": conv + dense, "normalised": 26 * 26 * 32}
    assert plan_work(layer_plan(config(bn=False), *MNIST))["normalised"] == 0


def test_epoch_seconds_leaves_out_the_compiling_first_epoch() -> None:
    assert epoch_seconds([{"seconds": 9.0}, {"seconds": 2.0}, {"seconds": 4.0}]) == 3.0
    assert epoch_seconds([{"seconds": 9.0}]) == 9.0
    assert epoch_seconds([]) is None
    assert epoch_seconds([{"epoch": 1}]) is None


def test_cost_model_recovers_the_weights_that_made_the_seconds() -> None:
    grid = [
        config(f, k, d, b, bn)
        for f, k, d, b, bn in itertools.product([16, 64], [3, 5], [64, 512], [32, 128], [False, True])
    ]
    truth = np.array([90.0, 3.0, 1.5])
    timed = [(c, float(features(c, *MNIST) @ truth)) for c in grid]
    model = CostModel.fit(timed, *MNIST)
    assert model is not None
    np.testing.assert_allclose(model.weights, truth, rtol=1e-6)
    assert model.predict(config(16, batch=128)) < model.predict(config(64, 5, 512, 32, True))
    assert CostModel.fit(timed[: MIN_TIMED - 1], *MNIST) is None  # too few to fit three weights
    assert model.predict(config(kernel=29)) is None  # a kernel larger than the image builds nothing


def test_log_improvement_levels_off_where_tpe_s_expected_improvement_does() -> None:
    ratio = np.array([-800.0, 0.0, 2.0, 6.0, 800.0])
    gamma = 0.1
    expected = -np.log(gamma + (1 - gamma) * np.exp(-ratio[1:4]))
    got = log_improvement(ratio, gamma)
    np.testing.assert_allclose(got[1:4], expected, atol=1e-12)
    assert np.isfinite(got).all() and got[0] < -790  # no overflow for a most unlikely candidate
    assert got[4] == pytest.approx(np.log(1 / gamma))  # a certain candidate is worth 1 / gamma, no more
    assert got[3] - got[2] < 1 < ratio[3] - ratio[2]  # so a cheaper, nearly as likely one can win


def _timed_study(sampler: optuna.samplers.BaseSampler, count: int) -> optuna.Study:
    study = optuna.create_study(sampler=sampler)
    rng = np.random.default_rng(0)
    for _ in range(count):
        trial = study.ask()
        filters = trial.suggest_categorical("filters", [16, 32, 64])
        batch = trial.suggest_categorical("batch_size", [32, 128])
        trial.set_user_attr("config", config(filters, batch=batch))
        seconds = filters / batch * 10
        trial.set_user_attr("history", [{"seconds": seconds + 3}, {"seconds": seconds}])
        study.tell(trial, float(rng.random()))  # the value says nothing of the parameters
    return study


def test_cost_tpe_scores_each_candidate_through_optunas_tpe() -> None:
    """The two private TPESampler methods cost-tpe works through are still called (an optuna release
    that moves them fails here, not silently), with one predicted cost per candidate, on odd trial
    numbers; even ones are TPE's own proposals."""
    sampler = CostTPESampler(*MNIST, seed=1, n_startup_trials=3, multivariate=True)
    _timed_study(sampler, 12)  # the last proposal is trial 11's
    assert sampler.last_costs is not None and len(sampler.last_costs) == 24  # optuna's n_ei_candidates
    assert (sampler.last_costs > 0).all()
    _timed_study(sampler, 13)  # trial 12's: TPE's turn
    assert sampler.last_costs is None


def test_cost_tpe_is_the_default_for_threshold_objectives_only(tmp_path: Path) -> None:
    engine = OptunaEngine()
    assert engine.algorithm == "cost-tpe"
    record = {"dataset": {"input_shape": [28, 28, 1], "classes": 10}}
    exercise3 = Study(load_space("exercise3"), tmp_path, "x", 0, run_record=record)
    assert isinstance(engine.sampler(exercise3), CostTPESampler)
    course = Study(load_space("course-cnn"), tmp_path, "y", 0, run_record=record)  # validation accuracy
    sampler = engine.sampler(course)
    assert type(sampler) is ScoredTPE and sampler.history == TPE_HISTORY  # TPE's proposals, a bounded history
    assert type(OptunaEngine("tpe").sampler(exercise3)) is optuna.samplers.TPESampler


def _study(count: int, sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2 + t.suggest_int("k", 0, 9) / 10, n_trials=count)
    study.sampler = sampler
    return study


def _proposals(sampler: optuna.samplers.BaseSampler, count: int, asks: int = 8) -> list[dict[str, Any]]:
    study = _study(count, sampler)
    proposed = []
    for _ in range(asks):
        trial = study.ask()
        proposed.append({"x": trial.suggest_float("x", -3, 3), "k": trial.suggest_int("k", 0, 9)})
        study.tell(trial, (proposed[-1]["x"] - 1) ** 2)
    return proposed


def test_tpe_with_a_bounded_history_proposes_what_optunas_tpe_does_up_to_its_bound() -> None:
    tpe = {"seed": 5, "n_startup_trials": 5, "multivariate": True, "constant_liar": True}
    ours, optunas = ScoredTPE(history=60, **tpe), optuna.samplers.TPESampler(**tpe)
    # 54 to 60 finished trials: the last proposal is asked with exactly 60 finished and itself running.
    assert _proposals(ours, 54, asks=7) == _proposals(optunas, 54, asks=7)
    ours, optunas = ScoredTPE(history=60, **tpe), optuna.samplers.TPESampler(**tpe)
    assert _proposals(ours, 200, asks=3) != _proposals(optunas, 200, asks=3)  # past it, another model


def _mostly_pruned(count: int) -> optuna.Study:
    """A study whose trials were pruned after 1 to 4 steps, but for every twentieth, complete."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=4))
    for n in range(count):
        trial = study.ask()
        x = trial.suggest_float("x", -3, 3)
        for step in range(1 + n % 4):
            trial.report((x - 1) ** 2 + step, step)
        study.tell(trial, (x - 1) ** 2 if n % 20 == 0 else None, state=None if n % 20 == 0 else TrialState.PRUNED)
    return study


def test_past_its_bound_tpe_sees_its_good_group_the_latest_trials_and_the_running_ones() -> None:
    from optuna.samplers._tpe.sampler import _split_trials

    study = _study(200, optuna.samplers.RandomSampler(seed=0))
    running = study.ask()
    view = RecentTrials(study, limit=50, keep=5)
    seen = view.get_trials(deepcopy=False)
    best = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.value)[:5]
    assert [t.number for t in seen[-46:]] == [*range(155, 200), running.number]  # the latest, and the running one
    assert {t.number for t in best} <= {t.number for t in seen}
    assert len(seen) <= 51 and [t.number for t in seen] == sorted(t.number for t in seen)
    assert view.get_trials(deepcopy=False)[0] is seen[0]  # one view, one choice
    small = _study(30, optuna.samplers.RandomSampler(seed=0))
    trials = small.get_trials(deepcopy=False)
    assert RecentTrials(small, limit=50, keep=5).bounded(trials) is trials  # within the bound: the study itself
    # With fewer complete trials than its good group holds, TPE counts the pruned ones that got
    # furthest: the view keeps them, as TPE's own split of the whole study would choose them.
    pruned = _mostly_pruned(300)
    finished = pruned.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    good, _ = _split_trials(pruned, finished, 25)
    kept = {t.number for t in RecentTrials(pruned, limit=100, keep=25).get_trials(deepcopy=False)}
    assert {t.number for t in good} <= kept and any(t.state == TrialState.PRUNED and t.number < 225 for t in good)
