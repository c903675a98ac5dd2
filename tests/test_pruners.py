"""Pruners are objects: each decides on scripted curves, they compose, and they are chosen by name."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from tuner.errors import CnnTuneError
from tuner.pruners import Chain, ExactStop, Hyperband, MedianStop, Progress, make_pruner
from tuner.records import TrialRecord
from tuner.space import load_space


def curve(rate: float, epochs: int, seconds: float = 1.0) -> list[dict[str, float]]:
    """Training accuracy rising towards 1 at `rate` per epoch, `seconds` per epoch."""
    return [{"epoch": e, "accuracy": 1 - 0.5 * math.exp(-rate * e), "seconds": seconds} for e in range(1, epochs + 1)]


def finished(number: int, rate: float, epochs: int, reached: int | None = None, seconds: float = 1.0) -> TrialRecord:
    result = {
        "reached_threshold": reached is not None,
        "epochs_to_threshold": reached,
        "seconds_to_threshold": None if reached is None else reached * seconds,
    }
    return TrialRecord(number, "complete", result=result, history=curve(rate, epochs, seconds))


def progress(space, number: int, rate: float, epochs: int, seconds: float = 1.0) -> Progress:  # type: ignore[no-untyped-def]
    history = curve(rate, epochs, seconds)
    values = [space.objective.intermediate(row, space.stop) for row in history]
    return Progress(number, values, history)


def test_exact_stops_at_the_incumbents_epoch_and_not_before() -> None:
    space = load_space("exercise3")
    exact = ExactStop(space)
    done = [finished(0, 2.0, 4, reached=4)]
    assert exact.reason(progress(space, 1, 0.5, 3), done) is None
    assert exact.reason(progress(space, 1, 0.5, 4), done) == (
        "not at the threshold by epoch 4; trial 0 reached it at epoch 4"
    )
    assert exact.reason(progress(space, 1, 0.5, 9), []) is None  # nothing to beat yet


def test_exact_stops_a_trial_that_can_at_best_tie_the_incumbents_epochs_and_is_slower() -> None:
    space = load_space("exercise3")
    exact = ExactStop(space)
    done = [finished(0, 2.0, 4, reached=4, seconds=5.0)]  # 4 epochs in 20 s
    # at epoch 3 it can meet the rule at epoch 4 at best: after 3 x 8 s + 0.9 x 8 s = 31.2 s, slower than 20 s
    assert exact.reason(progress(space, 1, 0.5, 3, seconds=8.0), done) == (
        "not at the threshold by epoch 3: meets the threshold at epoch 4 at best, after 31.2 s of training at "
        "least; trial 0 met it at epoch 4 in 20.0 s"
    )
    assert exact.reason(progress(space, 1, 0.5, 3, seconds=4.0), done) is None  # can still tie in fewer seconds
    assert exact.reason(progress(space, 1, 0.5, 2, seconds=60.0), done) is None  # can still win at epoch 3
    # seconds break ties between equal epochs when choosing the incumbent
    done.append(finished(1, 2.0, 4, reached=4, seconds=2.0))
    assert exact.reason(progress(space, 2, 0.5, 3, seconds=4.0), done) == (
        "not at the threshold by epoch 3: meets the threshold at epoch 4 at best, after 15.6 s of training at "
        "least; trial 1 met it at epoch 4 in 8.0 s"
    )


def test_exact_stops_a_trial_an_epoch_after_its_rate_reached_zero() -> None:
    space = load_space("exercise3")
    exact = ExactStop(space)
    cosine = {"lr_schedule": "cosine", "schedule_epochs": 3, "learning_rate": 0.003, "epochs": 20}
    # the rate is zero from the end of epoch 3; epoch 4 measures the weights as they will stay
    trial = progress(space, 1, 0.5, 3)
    trial.config = cosine
    assert exact.reason(trial, []) is None
    trial = progress(space, 1, 0.5, 4)
    trial.config = cosine
    assert exact.reason(trial, []) == (
        "not at the threshold by epoch 4: the learning rate reached zero after epoch 3, so the weights no longer change"
    )
    assert exact.reason(trial, [finished(0, 2.0, 9, reached=9)]) is not None  # with an incumbent too
    # a rate that never reaches zero (constant, step) or a longer horizon: nothing to say yet
    for config in (
        {**cosine, "lr_schedule": "constant"},
        {**cosine, "lr_schedule": "step"},
        {**cosine, "schedule_epochs": 4},
    ):
        trial.config = config
        assert exact.reason(trial, []) is None


def test_exact_needs_a_threshold_objective() -> None:
    with pytest.raises(CnnTuneError, match=r"^pruner: 'exact' needs a threshold objective"):
        ExactStop(load_space("course-cnn"))


def test_median_stops_a_trial_worse_than_the_median_of_complete_ones() -> None:
    space = load_space("exercise3")
    median = MedianStop(space)
    done = [finished(i, 1.0, 5) for i in range(3)]
    assert median.reason(progress(space, 3, 0.2, 2), done[:2]) is None  # fewer than 3 complete trials
    assert median.reason(progress(space, 3, 1.5, 2), done) is None  # better than the median
    reason = median.reason(progress(space, 3, 0.2, 2), done)
    assert reason is not None and reason.startswith("median pruner at epoch 2")


def test_median_counts_a_trial_that_ended_early_with_its_final_value() -> None:
    # Validation accuracy: two complete trials ended after 3 epochs at 0.80, one trained 8 epochs to
    # 0.95. At epoch 6 the median of what they had reached is 0.80; a trial at 0.85 is above it.
    space = load_space("course-cnn")
    median = MedianStop(space)

    def record(number: int, accuracy: list[float]) -> TrialRecord:
        history = [{"epoch": e, "val_accuracy": a} for e, a in enumerate(accuracy, start=1)]
        return TrialRecord(number, "complete", history=history)

    done = [record(0, [0.7, 0.8, 0.8]), record(1, [0.75, 0.8, 0.79]), record(2, [0.8, 0.85, 0.9, 0.92, 0.94, 0.95])]
    running = Progress(3, [0.7, 0.8, 0.82, 0.83, 0.84, 0.85])
    assert median.reason(running, done) is None
    # (optuna's rule counts only the 0.95 trial at epoch 6, and stops it); a second long one moves the median
    reason = median.reason(running, [*done, record(4, [0.8, 0.85, 0.9, 0.92, 0.94, 0.96])])
    assert reason == "median pruner at epoch 6: 0.85 against a median of 0.875"


def test_median_on_a_validation_accuracy_stops_only_beyond_the_validation_sets_noise() -> None:
    # course-cnn's first epoch in the benchmark: a trial at 0.8383 against a median of 0.8425 was
    # stopped, 0.4 points behind; over 1,200 validation images an accuracy's standard error is 1.06 points.
    space = load_space("course-cnn")
    done = [
        TrialRecord(n, "complete", history=[{"epoch": 1, "val_accuracy": a}])
        for n, a in enumerate([0.80, 0.8425, 0.86])
    ]
    plain, weighed = MedianStop(space), make_pruner("median", space).measured_on(1200)
    assert plain.reason(Progress(3, [0.8383]), done) is not None  # no count of images: no margin
    assert weighed.reason(Progress(3, [0.8383]), done) is None  # within the noise
    reason = weighed.reason(Progress(3, [0.8200]), done)  # 2.25 points behind: beyond it
    assert reason == "median pruner at epoch 1: 0.82 against a median of 0.8425, less its standard error of 0.0105"
    chain = make_pruner("exact+median", load_space("exercise3")).measured_on(1200)
    assert isinstance(chain, Chain) and all(
        p.validation_rows is None for p in chain.pruners if isinstance(p, MedianStop)
    )


def test_hyperband_keeps_the_best_third_of_its_bracket_at_each_rung() -> None:
    space = load_space("exercise3")
    hyperband = Hyperband(space)
    assert hyperband.budgets == [9, 5, 3]  # 20 epochs, factor 3: rungs of 1, 3, 9 epochs
    assert [hyperband.bracket(n) for n in range(40)] == [hyperband.bracket(n) for n in range(40)]
    first = [n for n in range(60) if hyperband.bracket(n) == 0][:7]
    rivals = [finished(n, 1.0, 3) for n in first[:6]]
    # at the first rung (epoch 1), a slow trial is outside the best third of seven: stopped
    reason = hyperband.reason(progress(space, first[6], 0.1, 1), rivals)
    assert reason is not None and "not in the best 1/3" in reason
    assert hyperband.reason(progress(space, first[6], 3.0, 1), rivals) is None
    assert hyperband.reason(progress(space, first[6], 0.1, 2), rivals) is None  # epoch 2 is no rung


def test_pruners_compose_and_are_chosen_by_name() -> None:
    space = load_space("exercise3")
    chain = make_pruner("exact+median", space)
    assert isinstance(chain, Chain) and str(chain) == "exact+median"
    assert [type(p) for p in chain.pruners] == [ExactStop, MedianStop]
    done = [finished(0, 2.0, 4, reached=4)]
    assert (
        chain.reason(progress(space, 1, 0.5, 4), done)
        == "not at the threshold by epoch 4; trial 0 reached it at epoch 4"
    )
    assert str(make_pruner("none", space)) == "none"
    with pytest.raises(CnnTuneError, match=r"^pruner: unknown pruner 'eager'; choose from: exact, curve"):
        make_pruner("eager", space)
    with pytest.raises(CnnTuneError, match=r"unknown pruner 'none\+exact'"):
        make_pruner("none+exact", space)


def test_the_curve_bound_stops_the_hopeless_and_keeps_a_trial_that_can_still_win() -> None:
    from tuner.pruners import CurveBound, predicted_epoch

    space = load_space("exercise3")
    curve_bound = CurveBound(space)
    done = [finished(0, 2.0, 4, reached=8)]  # the incumbent met the rule at epoch 8
    # error 0.5 * e^(-0.3 e): the line meets 0.002 at epoch 18.4, far after 8: stopped at epoch 3
    slow = progress(space, 1, 0.3, 3)
    assert predicted_epoch(space, slow.history) == pytest.approx(math.log(0.5 / 0.002) / 0.3, rel=1e-6)
    reason = curve_bound.reason(slow, done)
    assert (
        reason == "curve bound at epoch 3: reaches the threshold at epoch 17.5 at best; trial 0 reached it at epoch 8"
    )  # the bound is the line's epoch less 5%: 0.95 x 18.4
    # a line just after the incumbent's epoch (4.1 against 4) may be late by a few percent: kept, it can tie
    near = progress(space, 4, 1.35, 3, seconds=0.5)
    assert predicted_epoch(space, near.history) == pytest.approx(4.09, abs=0.01)
    assert curve_bound.reason(near, [finished(0, 2.0, 4, reached=4)]) is None
    # a fast learner (the line meets it at epoch 5.5) goes on
    assert curve_bound.reason(progress(space, 2, 1.0, 3), done) is None
    # a curve flat for three epochs that then turns down: the line, steep from the turn, keeps it
    turning = Progress(3, [], [{"accuracy": a, "seconds": 1.0} for a in (0.9, 0.9, 0.9, 0.99, 0.997)])
    assert curve_bound.reason(Progress(3, [0.0] * 3, turning.history[:3]), []) is not None  # flat: never, budget
    assert curve_bound.reason(Progress(3, [0.0] * 5, turning.history), done) is None
    assert curve_bound.reason(progress(space, 1, 0.3, 2), done) is None  # two epochs say too little


def test_the_curve_bound_stops_a_trial_that_can_at_best_tie_and_is_slower() -> None:
    from tuner.pruners import CurveBound, predicted_epoch

    space = load_space("exercise3")
    curve_bound = CurveBound(space)
    done = [finished(0, 2.0, 4, reached=6, seconds=5.0)]  # 6 epochs in 30 s
    # the line meets the threshold at epoch 5.5 (the bound 5.2): epoch 6 at best, a tie, after
    # 3 x 9 s + 3 x 0.9 x 9 s = 51.3 s
    assert predicted_epoch(space, curve(1.0, 3)) == pytest.approx(5.52, abs=0.01)
    assert curve_bound.reason(progress(space, 1, 1.0, 3, seconds=9.0), done) == (
        "curve bound at epoch 3 (bound 5.2): meets the threshold at epoch 6 at best, after 51.3 s of training "
        "at least; trial 0 met it at epoch 6 in 30.0 s"
    )
    assert curve_bound.reason(progress(space, 1, 1.0, 3, seconds=4.0), done) is None  # a tie in fewer seconds
    # one that can still meet it at epoch 5 (the line at 4.6) goes on however slow its epochs
    assert predicted_epoch(space, curve(1.2, 3)) == pytest.approx(4.6, abs=0.01)
    assert curve_bound.reason(progress(space, 1, 1.2, 3, seconds=60.0), done) is None


def test_the_ladder_stops_trials_at_a_budget_that_doubles_until_one_meets_the_rule() -> None:
    from tuner.pruners import Ladder

    space = load_space("exercise3").without_start()  # 20 epochs: a budget of 5, 10 after 4 trials missed, 20
    ladder = Ladder(space)
    assert [ladder.budget(n) for n in (0, 3, 4, 7, 8, 100)] == [5, 5, 10, 10, 20, 20]
    # a quarter of the epochs, but at least 3: a 10-epoch space starts at 3, a 3-epoch one has no ladder
    assert [Ladder(space.with_max_epochs(e)).budget(0) for e in (10, 3)] == [3, 3]
    short = space.with_max_epochs(3)
    assert Ladder(short).reason(progress(short, 0, 0.1, 3), []) is None
    missed = [TrialRecord(n, "pruned", history=curve(0.5, 5)) for n in range(4)]
    # at the budget without the threshold: stopped, and the reason says why
    assert ladder.reason(progress(space, 0, 0.5, 5), []) == (
        "not at the threshold by epoch 5; no trial has met it yet, so the budget is 5 epochs (doubled every 4 trials)"
    )
    assert ladder.reason(progress(space, 0, 1.3, 4), []) is None  # on course for epoch 4.3: may meet it at 5
    # the curve bound says epoch 17.5 at best: stopped at epoch 3, not at 5
    assert ladder.reason(progress(space, 0, 0.3, 3), []) == (
        "curve bound at epoch 3: reaches the threshold at epoch 17.5 at best; no trial has met it yet, "
        "so the budget is 5 epochs (doubled every 4 trials)"
    )
    # four trials missed 5 epochs: the budget is 10, so a trial on course for epoch 10 goes on at epoch 5
    assert ladder.reason(progress(space, 4, 0.55, 5), []) is not None
    assert ladder.reason(progress(space, 4, 0.55, 5), missed) is None
    assert ladder.reason(progress(space, 4, 0.55, 10), missed) is not None
    # eight missed: the whole 20 epochs, as without the ladder
    eight = missed + [TrialRecord(n, "pruned", history=curve(0.5, 10)) for n in range(4, 8)]
    assert ladder.reason(progress(space, 8, 0.3, 19), eight) is None
    # a start configuration is the user's question: it trains on, also when it runs again under a
    # new number after an interruption; a proposal that differs from every start entry does not
    full = load_space("exercise3")
    with_start = Ladder(full)
    reference = {"conv_layers": 1, "epochs": 20, **full.start[1]}  # the course's answer: 9 epochs
    for number in (1, 7):
        assert with_start.reason(replace(progress(space, number, 0.5, 5), config=reference), []) is None
    other = {**reference, "learning_rate": 0.002}
    assert with_start.reason(replace(progress(space, 2, 0.5, 5), config=other), []) is not None
    # only a whole entry tells a start configuration by its values: one that leaves values to the
    # sampler is known by its number alone; a value its own choices switch off is no part of it
    partial = full.with_start([{"batch_size": 32}])
    assert partial.is_start(reference) is False
    assert Ladder(partial).reason(progress(space, 0, 0.5, 5), []) is None
    assert Ladder(partial).reason(replace(progress(space, 3, 0.5, 5), config=reference), []) is not None
    switched_off = full.with_start([{**full.start[1], "schedule_epochs": 4}])
    assert switched_off.is_start(reference) is True
    # once a trial met the rule, the ladder is done: exact and the curve bound prune against it
    assert ladder.reason(progress(space, 1, 0.3, 12), [finished(0, 2.0, 14, reached=14)]) is None
    # the default pruner for a threshold objective has it last; a grid's rows all train to exact's limit
    from tuner.pruners import default_pruner

    assert default_pruner(space) == "exact+curve+ladder"
    assert default_pruner(space, grid=True) == "exact+curve"
    with pytest.raises(CnnTuneError, match="'ladder' needs a threshold objective"):
        Ladder(load_space("convnet"))


def test_a_pruned_trial_is_worth_its_predicted_epochs_and_never_beats_the_incumbent() -> None:
    from tuner.pruners import predicted_epoch, ranking_value

    space = load_space("exercise3")
    done = [finished(0, 2.0, 4, reached=8)]
    slow = curve(0.3, 3)  # predicted 18.4 epochs: epoch 19 at best, after 19 s (one second per epoch)
    assert ranking_value(space, {}, slow, done) == round(19 + 19 / (19 + 60), 3)
    fast = curve(1.0, 3)  # predicted 5.5, yet pruned (say by exact): worse than the incumbent all the same
    incumbent = 8 + 8 / (8 + 60)  # the objective's value of 8 epochs in 8 s
    assert ranking_value(space, {}, fast, done) == round(incumbent + 0.001, 3)
    assert space.objective.value(done[0].result, space.stop) == pytest.approx(incumbent)
    # a flattening curve: the bound's line through every epoch says 4.3, the recent trend (the line
    # through the last two epochs) 5.3: the estimate is the trend's, epoch 6 at best, after 6 s
    flattening = [{"accuracy": a, "seconds": 1.0} for a in (0.9, 0.98, 0.99)]
    assert predicted_epoch(space, flattening) == pytest.approx(4.27, abs=0.01)
    assert predicted_epoch(space, flattening, last=2) == pytest.approx(5.32, abs=0.01)
    assert ranking_value(space, {}, flattening, []) == round(6 + 6 / (6 + 60), 3)
    hopeless = curve(0.05, 3)  # predicted after the 20-epoch budget: ranked as a trial that never met it
    result = {"reached_threshold": False, "best_stop_metric": hopeless[-1]["accuracy"], "val_accuracy": 0.9}
    missed = ranking_value(space, result, hopeless, done)
    assert 21 < missed < 22  # one epoch past the space's 20, plus the shortfall: below every trial that met it
    # a trial whose rate reached zero (a 3-epoch cosine, stopped at epoch 4) never meets it: the same,
    # however steep its last two epochs (the fourth measures the final weights, not a running mean)
    steep = [{"accuracy": a, "seconds": 1.0} for a in (0.98, 0.99, 0.995, 0.9975)]
    cosine = {"lr_schedule": "cosine", "schedule_epochs": 3}
    assert ranking_value(space, {}, steep, done) < 10
    assert ranking_value(space, result, steep, done, cosine) == missed


def test_pruned_trials_carry_their_ranking_value_in_the_optuna_study(tmp_path, tiny_data) -> None:  # type: ignore[no-untyped-def]
    import optuna
    from conftest import make_settings, scripted_runner

    from tuner.search import run_search

    runner = scripted_runner(speed=lambda c: c["filters"] / 16)
    settings = make_settings(space="exercise3", out=tmp_path, trials=8, algorithm="random", seed=3, no_start=True)
    outcome = run_search(settings, run_trial=runner)
    study = optuna.load_study(
        study_name=outcome.store.path.name,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(outcome.store.path / "study.journal"))
        ),
    )
    complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and complete
    best = min(complete)
    assert all(t.value is not None and t.value > best for t in pruned)  # ranked below the incumbent, in epochs
    # a predicted epoch count (below 21), or for one that cannot meet the rule in 20 epochs, 21 + its shortfall
    assert all(t.value < 22 for t in pruned)
    # TPE ranks pruned trials by their last step (the longest trained first), then by its value: all
    # are told at one step past the last epoch, so what they were told alone orders them for TPE
    from optuna.samplers._tpe.sampler import _get_pruned_trial_score

    assert {max(t.intermediate_values) for t in pruned} == {21}  # exercise3's 20 epochs, plus one
    assert len({len(t.intermediate_values) for t in pruned}) > 1  # trained for different numbers of epochs
    by_tpe = sorted(pruned, key=lambda t: _get_pruned_trial_score(t, study))
    assert [t.value for t in by_tpe] == sorted(t.value for t in pruned)


@pytest.mark.parametrize("engine", ["optuna", "keras-tuner"])
def test_a_search_keeps_the_fastest_of_equal_epochs_and_stops_the_slower_ones(engine: str, tmp_path, tiny_data) -> None:  # type: ignore[no-untyped-def]
    from conftest import make_settings, scripted_runner

    from tuner.runs.reader import load_run
    from tuner.search import run_search

    # every trial meets the rule at epoch 4; an epoch takes filters / 8 seconds (2, 4 or 8 s)
    runner = scripted_runner(speed=lambda c: 1.5, epoch_seconds=lambda c: c["filters"] / 8)
    settings = make_settings(
        space="exercise3", out=tmp_path, trials=8, engine=engine, algorithm="random", seed=1, pruner="exact"
    )
    run = load_run(run_search(settings, run_trial=runner).store.path)
    trials = run.trials.sort_values("trial")
    complete, pruned = trials[trials["state"] == "complete"], trials[trials["state"] == "pruned"]
    assert len(pruned) > 0 and complete["epochs_to_threshold"].eq(4).all()
    # a trial completes only when it can beat or tie the incumbent's seconds; the slower stop at epoch 3
    assert complete["seconds_to_threshold"].is_monotonic_decreasing
    assert pruned["epochs_run"].eq(3).all()
    assert pruned["fail_reason"].str.contains("meets the threshold at epoch 4 at best").all()
    board = run.leaderboard()
    assert board.iloc[0]["seconds_to_threshold"] == complete["seconds_to_threshold"].min()


@pytest.mark.parametrize("engine", ["optuna", "keras-tuner"])
def test_a_search_climbs_the_ladder_until_a_trial_meets_the_rule(engine: str, tmp_path, tiny_data) -> None:  # type: ignore[no-untyped-def]
    from conftest import make_settings, scripted_runner

    from tuner.runs.reader import load_run
    from tuner.search import run_search

    # every trial needs 10 epochs (the line says 9.2, the bound 8.7): past the first budget of 5
    runner = scripted_runner(speed=lambda c: 0.6)
    pruner = None if engine == "optuna" else "exact+curve+ladder"  # optuna's default; keras-tuner's is none
    settings = make_settings(
        space="exercise3", out=tmp_path, trials=6, engine=engine, algorithm="random", seed=1, no_start=True,
        pins=["lr_schedule=constant"], pruner=pruner,
    )  # fmt: skip
    run = load_run(run_search(settings, run_trial=runner).store.path)
    assert run.record["pruner"] == "exact+curve+ladder"
    trials = run.trials.sort_values("trial").set_index("trial")
    # the first four stop at epoch 3, where the bound already comes after the budget of 5 epochs
    first = trials.loc[0:3]
    assert first["state"].eq("pruned").all() and first["epochs_run"].eq(3).all()
    assert first["fail_reason"].str.endswith("the budget is 5 epochs (doubled every 4 trials)").all()
    assert first["value"].between(10, 11).all()  # told as worth about 10 epochs, not as a miss
    # then the budget is 10: the fifth trial meets the rule at epoch 10, and the ladder is done
    assert trials.loc[4, "state"] == "complete" and trials.loc[4, "epochs_to_threshold"] == 10
    assert trials.loc[5, "state"] == "complete"
