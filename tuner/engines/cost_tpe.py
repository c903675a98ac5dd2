"""TPE that weighs each candidate by its predicted cost: improvement per second of training, not per trial.

optuna's TPE draws 24 candidates from the density of its good trials, l(x), and proposes the one with
the highest log l(x) - log g(x). For a threshold objective the leaderboard ranks trials by their
epochs, then by their seconds, and the curve bound stops a slow learner after a few epochs either
way: a candidate that takes a third of the seconds per epoch is a better answer when it wins and a
third of the price when it loses. This sampler subtracts log(predicted seconds per epoch) from the
acquisition, which makes it expected improvement per second (Snoek, Larochelle and Adams 2012), with
the cost model (`tuner.engines.cost`) fitted to the study's timed trials. Until enough trials are
timed it proposes what optuna's TPE proposes.

It works through two methods optuna's TPESampler keeps private, `_sample` (one proposal for a
search space) and `_compute_acquisition_func` (the candidates' scores); a test fails if they move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner.engines.cost import CostModel, epoch_seconds

__all__ = ["CostTPESampler"]


class CostTPESampler(optuna.samplers.TPESampler):
    """optuna's TPESampler, its candidates' scores lowered by the log of their predicted seconds per epoch."""

    def __init__(self, input_shape: tuple[int, ...], classes: int, **tpe: Any) -> None:
        super().__init__(**tpe)
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self._asking: tuple[optuna.Study, dict[str, BaseDistribution]] | None = None
        self.last_costs: np.ndarray | None = None  # the last candidates' predicted seconds per epoch

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._asking = (study, search_space)
        try:
            return super()._sample(study, trial, search_space)
        finally:
            self._asking = None

    def _compute_acquisition_func(self, samples: dict[str, np.ndarray], mpe_below: Any, mpe_above: Any) -> np.ndarray:
        acquisition = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        self.last_costs = self.costs(samples)
        return acquisition if self.last_costs is None else acquisition - np.log(self.last_costs)

    def costs(self, samples: dict[str, np.ndarray]) -> np.ndarray | None:
        """Each candidate's predicted seconds per epoch; None while the model cannot be fitted."""
        if self._asking is None or not samples:
            return None
        study, space = self._asking
        timed: list[tuple[dict[str, Any], float]] = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            config, seconds = t.user_attrs.get("config"), epoch_seconds(t.user_attrs.get("history") or [])
            if config and seconds:
                timed.append((config, seconds))
        model = CostModel.fit(timed, self.input_shape, self.classes)
        if model is None:
            return None
        # A candidate names only this search space's parameters (a group of them, with group=True):
        # the rest come from the last timed trial, the same for every candidate.
        base = timed[-1][0]
        count = len(next(iter(samples.values())))
        costs = []
        for i in range(count):
            values = {name: space[name].to_external_repr(column[i]) for name, column in samples.items()}
            seconds = model.predict(base | values)
            if seconds is None:
                return None
            costs.append(seconds)
        return np.array(costs)
