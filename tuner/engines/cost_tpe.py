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
the best's epochs: on exercise3's seed 0 (15 minutes on 2 cores) 63 of 73 trials had 16 filters and
69 no batch normalisation, a 4-epoch answer in 8 s, but no 3-epoch one, which TPE's own
proposals had found there. Subtracting log(cost) from the log ratio itself is too weak instead:
replayed on a recorded search it changed 2 of 12 proposals, the ratio spanning several nats where the
improvement it stands for has levelled off.

The start-up, too, weighs cost. TPE's first trials are random draws, as a random search's are; here each
is the cheapest of three random configurations of the space, by the cost model once four trials are
timed and by its prior weights (`tuner.engines.cost.PRIOR_WEIGHTS`) before. A random search's first
trials on exercise3 span 2-20 s per epoch; on the recorded searches the cheapest third of them met the
stop rule less often (47% against 67% and 93%) but sooner (a median 24 s of training against 51 s
and 106 s), and a pruner stops a cheap loser for little.

It changes TPE's scores through `ScoredTPE` (`tuner.engines.private`), which holds the reach into
optuna's private methods; a test fails if they move.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner.engines.cost import CostModel, epoch_seconds
from tuner.engines.private import ScoredTPE
from tuner.space import Space

__all__ = ["STARTUP_DRAWS", "CostTPESampler", "log_improvement"]

STARTUP_DRAWS = 3  # random configurations a start-up trial is the cheapest of
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def log_improvement(log_ratio: np.ndarray, gamma: float) -> np.ndarray:
    """log of TPE's expected improvement, up to a constant, from log l(x) - log g(x):
    -log(gamma + (1 - gamma) g/l), computed without overflow for very unlikely candidates."""
    return -np.logaddexp(np.log(gamma), np.log1p(-gamma) - log_ratio) if gamma < 1 else np.zeros_like(log_ratio)


class CostTPESampler(ScoredTPE):
    """optuna's TPESampler; on odd trial numbers its candidates are scored by expected improvement per
    predicted second per epoch, and each start-up trial is the cheapest of `STARTUP_DRAWS` random draws
    from `space`."""

    def __init__(self, input_shape: tuple[int, ...], classes: int, space: Space | None = None, **tpe: Any) -> None:
        super().__init__(**tpe)
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.space = space
        self.startup_trials = int(tpe.get("n_startup_trials", 10))
        self.seed = tpe.get("seed")
        self.picks: dict[int, dict[str, Any] | None] = {}  # {trial number: its start-up configuration}
        self.last_costs: np.ndarray | None = None  # the last candidates' predicted seconds per epoch

    # -- the start-up: the cheapest of a few random configurations --------------------------------

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        pick = self.startup_pick(study, trial)
        if pick is not None and param_name in pick:
            return pick[param_name]
        return super().sample_independent(study, trial, param_name, param_distribution)

    def startup_pick(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any] | None:
        """While TPE is in its random start-up, trial `trial`'s searched values: the cheapest of
        `STARTUP_DRAWS` random configurations of the space (drawn by the seed and the trial's number);
        None after the start-up."""
        if trial.number not in self.picks:
            finished = study.get_trials(deepcopy=False, states=_FINISHED)
            self.picks[trial.number] = None
            if self.space is not None and len(finished) < self.startup_trials:
                rng = random.Random(None if self.seed is None else f"{self.seed}:{trial.number}")
                draws = [self.space.draw(rng) for _ in range(STARTUP_DRAWS)]
                model = self.fitted(finished) or CostModel.prior(self.input_shape, self.classes)
                costs = [model.predict(self.space.resolve(d)) for d in draws]
                self.last_costs = np.array([np.inf if c is None else c for c in costs])
                self.picks[trial.number] = draws[int(np.argmin(self.last_costs))]
        return self.picks[trial.number]

    # -- after it: TPE's candidates, every other proposal weighed by cost -----------------------

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

    def fitted(self, finished: list[FrozenTrial]) -> CostModel | None:
        """The cost model fitted to the finished trials' seconds per epoch; None while too few are timed."""
        return CostModel.fit(self.timed(finished), self.input_shape, self.classes)

    @staticmethod
    def timed(finished: list[FrozenTrial]) -> list[tuple[dict[str, Any], float]]:
        """(configuration, seconds per epoch) of each finished trial with a timed epoch."""
        timed: list[tuple[dict[str, Any], float]] = []
        for t in finished:
            config, seconds = t.user_attrs.get("config"), epoch_seconds(t.user_attrs.get("history") or [])
            if config and seconds:
                timed.append((config, seconds))
        return timed

    def costs(
        self, study: optuna.Study, space: dict[str, BaseDistribution], samples: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        """Each candidate's predicted seconds per epoch; None while the model cannot be fitted."""
        timed = self.timed(study.get_trials(deepcopy=False, states=_FINISHED))
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
