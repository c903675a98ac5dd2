"""The names a search can be asked for: engines, their algorithms, pruners. Light enough to import for
`--help`; the engine and pruner registries take their names from here, and a test ties them together."""

from __future__ import annotations

from tuner.errors import CnnTuneError

__all__ = ["ALGORITHMS", "ENGINE_NAMES", "PRUNER_NAMES", "check_pruner"]

# engine -> {algorithm: what it does}; each engine's first algorithm is its default.
ALGORITHMS: dict[str, dict[str, str]] = {
    "optuna": {
        "cost-tpe": "TPE taking turns, for threshold objectives, with the candidate of most expected improvement "
        "per predicted second per epoch; plain TPE for other objectives",
        "tpe": "Tree-structured Parzen Estimator (multivariate, grouped for conditional parameters)",
        "random": "independent uniform sampling",
        "grid": "every combination of discrete values (ranges need a step)",
        "qmc": "quasi-Monte Carlo (Sobol), needs scipy",
        "cmaes": "CMA-ES over numeric parameters, needs cmaes",
    },
    "keras-tuner": {
        "random": "RandomSearch: independent random sampling",
        "bayesian": "BayesianOptimization: Gaussian-process search (needs scikit-learn)",
        "hyperband": "Hyperband: brackets of successive halving over epochs (each round trains from scratch)",
        "grid": "GridSearch: every combination of discrete values",
    },
}
ENGINE_NAMES = tuple(ALGORITHMS)

# Pruners by name, composed with `+` (`exact+median`); `none` stands alone.
PRUNER_NAMES = ("exact", "curve", "ladder", "median", "hyperband", "none")


def check_pruner(name: str) -> list[str]:
    """The parts of a pruner chain `a+b`, each a known pruner; a bad chain is one clear error."""
    parts = name.split("+")
    unknown = [p for p in parts if p not in PRUNER_NAMES or (p == "none" and len(parts) > 1)]
    if unknown:
        raise CnnTuneError(
            f"unknown pruner {name!r}; choose from: {', '.join(PRUNER_NAMES)}, or a chain such as exact+median",
            field="pruner",
        )
    return parts
