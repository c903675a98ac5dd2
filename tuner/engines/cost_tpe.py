"""TPE that takes turns with expected improvement per second of training: every other proposal is the
candidate that promises the most for its predicted seconds per epoch.

optuna's TPE splits the finished trials into a good share, gamma, and the rest, draws 24 candidates
from the density of the good ones, l(x), and proposes the one with the highest log l(x) - log g(x).
Its expected improvement is 1 / (gamma + (1 - gamma) g(x) / l(x)) (Bergstra et al. 2011): it rises
with l/g and levels off at 1 / gamma. For a threshold objective the leaderboard ranks trials by their
epochs, then by their seconds, and the curve bound stops a slow learner after a few epochs either
way, so a candidate that takes a third of the seconds per epoch is a better answer when it wins and
a third of the price when it loses. On odd trial numbers this sampler proposes the candidate with the
most expected improvement per predicted second per epoch (as Snoek, Larochelle and Adams 2012 do for
Gaussian processes), the cost model (`tuner.engines.cost`) fitted to the study's timed trials; on
even ones, and until enough trials are timed, it proposes what optuna's TPE proposes.

Why turns. TPE's improvement is likeness to the best tenth of the trials, not the chance of beating
the best one. Weighed by cost on every proposal, the search settles on the cheapest models that tie
the best's epochs: on exercise3's seed 0 (15 minutes on 2 cores) 66 of 73 trials were 16-filter
models without batch normalisation, a 4-epoch answer in 8 s, but no 3-epoch one, which TPE's own
proposals had found there. Subtracting log(cost) from the log ratio itself is too weak instead:
replayed on a recorded search it changed 2 of 12 proposals, the ratio spanning several nats where the
improvement it stands for has levelled off.

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

__all__ = ["CostTPESampler", "log_improvement"]


def log_improvement(log_ratio: np.ndarray, gamma: float) -> np.ndarray:
    """log of TPE's expected improvement, up to a constant, from log l(x) - log g(x):
    -log(gamma + (1 - gamma) g/l), computed without overflow for very unlikely candidates."""
    return -np.logaddexp(np.log(gamma), np.log1p(-gamma) - log_ratio) if gamma < 1 else np.zeros_like(log_ratio)


class CostTPESampler(optuna.samplers.TPESampler):
    """optuna's TPESampler; on odd trial numbers its candidates are scored by expected improvement per
    predicted second per epoch."""

    def __init__(self, input_shape: tuple[int, ...], classes: int, **tpe: Any) -> None:
        super().__init__(**tpe)
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self._asking: tuple[optuna.Study, dict[str, BaseDistribution], int] | None = None
        self.last_costs: np.ndarray | None = None  # the last candidates' predicted seconds per epoch

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._asking = (study, search_space, trial.number)
        try:
            return super()._sample(study, trial, search_space)
        finally:
            self._asking = None

    def _compute_acquisition_func(self, samples: dict[str, np.ndarray], mpe_below: Any, mpe_above: Any) -> np.ndarray:
        log_ratio = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        tpe_turn = self._asking is None or self._asking[2] % 2 == 0  # even trial numbers
        self.last_costs = None if tpe_turn else self.costs(samples)
        if self.last_costs is None or self._asking is None:
            return log_ratio
        return log_improvement(log_ratio, self.good_share(self._asking[0])) - np.log(self.last_costs)

    def good_share(self, study: optuna.Study) -> float:
        """gamma: the share of the finished trials TPE counts as good (its `gamma(n)` of n)."""
        finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        assert self._gamma is not None  # optuna's _sample sets it before it scores candidates
        return min(1.0, self._gamma(finished) / finished) if finished else 1.0

    def costs(self, samples: dict[str, np.ndarray]) -> np.ndarray | None:
        """Each candidate's predicted seconds per epoch; None while the model cannot be fitted."""
        if self._asking is None or not samples:
            return None
        study, space, _ = self._asking
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
