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
the best's epochs and no longer finds an answer in fewer epochs, which TPE's own proposals do.
Subtracting log(cost) from the log ratio itself is too weak instead: the ratio spans several nats
where the improvement it stands for has levelled off, so the cost hardly changes a proposal.

Why the start-up is TPE's own random draws: making each start-up trial the cheapest of a few random
configurations did not reliably bring a first success sooner, as cheap models fail the stop rule more often.

The exercise3 searches behind these choices are in reports/benchmarks.md (search quality) and, run by
run, reports/benchmarks-history.md.

It changes TPE's scores through `ScoredTPE` (`tuner.engines.private`), which holds the reach into
optuna's private methods; a test fails if they move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from tuner.engines.cost import CostModel, epoch_seconds, features
from tuner.engines.private import ScoredTPE

__all__ = ["TPE_HISTORY", "CostTPESampler", "log_improvement"]

# Past this many finished trials, cost-tpe's TPE models the 25 best and the most recent ones
# (`tuner.engines.private.RecentTrials`): at 10,000 trials a proposal costs a quarter of what modelling
# every trial does (72 against 289 ms, reports/benchmarks.md); below it, it proposes what TPE would.
TPE_HISTORY = 1000


def log_improvement(log_ratio: np.ndarray, gamma: float) -> np.ndarray:
    """log of TPE's expected improvement, up to a constant, from log l(x) - log g(x):
    -log(gamma + (1 - gamma) g/l), computed without overflow for very unlikely candidates."""
    return -np.logaddexp(np.log(gamma), np.log1p(-gamma) - log_ratio) if gamma < 1 else np.zeros_like(log_ratio)


class CostTPESampler(ScoredTPE):
    """optuna's TPESampler; on odd trial numbers its candidates are scored by expected improvement per
    predicted second per epoch."""

    def __init__(self, input_shape: tuple[int, ...], classes: int, **tpe: Any) -> None:
        super().__init__(**tpe)
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.last_costs: np.ndarray | None = None  # the last candidates' predicted seconds per epoch
        # finished trials' (features or None, seconds per epoch, configuration), None where untimed, by number
        self.timed: dict[int, tuple[np.ndarray | None, float, dict[str, Any]] | None] = {}

    def rescore(
        self,
        study: optuna.Study,
        space: dict[str, BaseDistribution],
        number: int,
        gamma: float,
        samples: dict[str, np.ndarray],
        log_ratio: np.ndarray,
    ) -> np.ndarray:
        self.last_costs = None if number % 2 == 0 else self.costs(study, space, samples)  # even: TPE's turn
        if self.last_costs is None:
            return log_ratio
        return log_improvement(log_ratio, gamma) - np.log(self.last_costs)

    def costs(
        self, study: optuna.Study, space: dict[str, BaseDistribution], samples: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        """Each candidate's predicted seconds per epoch; None while the model cannot be fitted."""
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if t.number not in self.timed:  # a finished trial's features and seconds are made once
                config, seconds = t.user_attrs.get("config"), epoch_seconds(t.user_attrs.get("history") or [])
                if config and seconds:
                    row = features(config, self.input_shape, self.classes) if seconds > 0 else None
                    self.timed[t.number] = (row, seconds, config)
                else:
                    self.timed[t.number] = None
        entries = [entry for n in sorted(self.timed) if (entry := self.timed[n]) is not None]
        rows = [(row, seconds) for row, seconds, _ in entries if row is not None]
        model = CostModel.fit_rows(rows, self.input_shape, self.classes)
        if model is None:
            return None
        # A candidate names only this search space's parameters (a group of them, with group=True):
        # the rest come from the last timed trial, the same for every candidate.
        base = entries[-1][2]
        count = len(next(iter(samples.values())))
        costs = []
        for i in range(count):
            values = {name: space[name].to_external_repr(column[i]) for name, column in samples.items()}
            seconds = model.predict(base | values)
            if seconds is None:
                return None
            costs.append(seconds)
        return np.array(costs)
