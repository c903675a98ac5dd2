"""Pruners are objects: each decides on scripted curves, they compose, and they are chosen by name."""

from __future__ import annotations

import math

import pytest

from tuner.errors import CnnTuneError
from tuner.pruners import Chain, ExactStop, Hyperband, MedianStop, Progress, make_pruner
from tuner.records import TrialRecord
from tuner.space import load_space


def curve(rate: float, epochs: int) -> list[dict[str, float]]:
    """Training accuracy rising towards 1 at `rate` per epoch, one second per epoch."""
    return [{"epoch": e, "accuracy": 1 - 0.5 * math.exp(-rate * e), "seconds": 1.0} for e in range(1, epochs + 1)]


def finished(number: int, rate: float, epochs: int, reached: int | None = None) -> TrialRecord:
    result = {"reached_threshold": reached is not None, "epochs_to_threshold": reached, "seconds_to_threshold": reached}
    return TrialRecord(number, "complete", result=result, history=curve(rate, epochs))


def progress(space, number: int, rate: float, epochs: int) -> Progress:  # type: ignore[no-untyped-def]
    history = curve(rate, epochs)
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
    with pytest.raises(CnnTuneError, match=r"^pruner: unknown pruner 'eager'; choose from: exact, hyperband, median"):
        make_pruner("eager", space)
    with pytest.raises(CnnTuneError, match=r"unknown pruner 'none\+exact'"):
        make_pruner("none+exact", space)
