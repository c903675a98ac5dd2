"""What a search optimises: a scalar for the optimiser, and an exact ranking for the leaderboard."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuner.errors import CnnTuneError

if TYPE_CHECKING:
    from tuner.space.rules import StopRule

__all__ = ["LEGACY_VALUES", "OBJECTIVES", "VALUES", "Objective", "epochs_value", "get_objective"]

# What a trial that never met the threshold was told before the `past the budget` values (runs
# whose identity has no "values" keep these, so a resumed study's values stay comparable).
_NOT_REACHED = {"epochs_to_threshold": 1_000.0, "time_to_threshold": 10_000_000.0}
LEGACY_VALUES = "legacy"
VALUES = "past-budget"  # the run identity's "values": missed trials are worth `Space.missed_at` + shortfall

# Trials that meet the rule in as many epochs are told apart by their training seconds to it:
# seconds / (seconds + _TIE_SECONDS) grows with the seconds and stays below one epoch.
_TIE_SECONDS = 60.0


def epochs_value(epochs: float, seconds: float) -> float:
    """The epochs objective's value for `epochs` to the threshold in `seconds` of training."""
    return float(epochs) + seconds / (seconds + _TIE_SECONDS)


@dataclass(frozen=True)
class Objective:
    """One way to rank trials. `value` feeds the optimiser; `sort_keys` order the leaderboard exactly."""

    name: str
    direction: str
    needs_stop: bool
    description: str

    def value(self, result: dict[str, Any], stop: StopRule | None, missed_at: float | None = None) -> float:
        """The scalar the optimiser sees for a finished trial (lower is better when minimising).

        A trial that never met the threshold is worth `missed_at` plus its shortfall: a value just
        past what any trial that met it can be worth (`Space.missed_at`), so it ranks below them and a
        history chart keeps its scale; None gives the legacy constants."""
        if self.name in _NOT_REACHED:
            assert stop is not None
            val_accuracy = result.get("val_accuracy") or 0.0
            if result.get("reached_threshold"):
                if self.name == "epochs_to_threshold":
                    return epochs_value(result["epochs_to_threshold"], result["seconds_to_threshold"])
                # Seconds hardly ever tie; validation accuracy decides if they do (by less than a
                # microsecond, so it never reorders trials whose seconds differ, as the leaderboard)
                return float(result["seconds_to_threshold"]) + 1e-6 * (1.0 - val_accuracy)
            shortfall = stop.shortfall(result.get("best_stop_metric"))
            base = _NOT_REACHED[self.name] if missed_at is None else missed_at
            return base + shortfall + 1e-6 * (1.0 - val_accuracy)
        metric = result.get(self.name)
        if metric is None:
            raise ValueError(f"trial result has no {self.name}")
        return float(metric)

    def intermediate(self, logs: dict[str, float], stop: StopRule | None, before: float | None = None) -> float:
        """A per-epoch value in the study's direction, for pruners; `before` is the previous epoch's.
        A validation objective's is the best epoch's so far: what the trial is worth if it ends now."""
        if self.name in _NOT_REACHED:
            assert stop is not None
            return stop.shortfall(logs.get(stop.metric))
        value = float(logs.get(self.name, float("nan")))
        if before is None or math.isnan(before):
            return value
        if math.isnan(value):
            return before
        return min(value, before) if self.direction == "minimize" else max(value, before)

    def sort_keys(self, stop: StopRule | None) -> list[tuple[str, bool]]:
        """(column, ascending) pairs that rank trials exactly, best first."""
        if self.name in _NOT_REACHED:
            assert stop is not None
            # shortfall is 0 for every trial that reached the threshold, so among those only the
            # epochs, then the seconds, then validation accuracy decide, as in `value`.
            epochs = [("epochs_to_threshold", True)] if self.name == "epochs_to_threshold" else []
            return [
                ("reached_threshold", False),
                *epochs,
                ("seconds_to_threshold", True),
                ("shortfall", True),
                ("val_accuracy", False),
            ]
        # A pruned trial's value is its last epoch's, of a training cut short: a complete trial ranks
        # above every pruned one (as optuna's best trial is a complete one), whatever the values.
        return [("complete", False), (self.name, self.direction == "minimize")]


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective(
            "epochs_to_threshold",
            "minimize",
            True,
            "fewest epochs until the stop rule is met, then fewest training seconds; trials that never "
            "meet it rank below, by how close they came, then by validation accuracy",
        ),
        Objective(
            "time_to_threshold",
            "minimize",
            True,
            "fewest training seconds until the stop rule is met; the rest rank as above",
        ),
        Objective(
            "val_accuracy",
            "maximize",
            False,
            "highest validation accuracy of a trial's best epoch, whose weights the trial keeps",
        ),
        Objective(
            "val_loss", "minimize", False, "lowest validation loss of a trial's best epoch, whose weights it keeps"
        ),
    )
}


def get_objective(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise CnnTuneError(f"unknown objective {name!r}; choose from: {', '.join(sorted(OBJECTIVES))}") from None
