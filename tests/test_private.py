"""Private attributes of optuna and keras-tuner: none outside one adapter, and each there still exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ENGINES = Path(__file__).resolve().parent.parent / "tuner" / "engines"


def test_no_private_attribute_outside_the_adapter() -> None:
    reaches = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(ENGINES.glob("*.py"))
        if path.name != "private.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\._[a-z]", line)
    ]
    assert reaches == []


@pytest.mark.parametrize("owner, attribute", __import__("tuner.engines.private", fromlist=["x"]).KERAS_TUNER_PRIVATE)
def test_the_installed_keras_tuner_still_has_each_private_attribute(owner: str, attribute: str) -> None:
    from tuner.training.backend import kt

    classes = {"Oracle": kt.Oracle, "BaseTuner": kt.engine.base_tuner.BaseTuner}
    assert hasattr(classes[owner], attribute), (
        f"keras-tuner {kt.__version__} no longer has {owner}.{attribute}: update tuner/engines/private.py"
    )


@pytest.mark.parametrize("attribute", __import__("tuner.engines.private", fromlist=["x"]).OPTUNA_PRIVATE)
def test_the_installed_optuna_tpe_still_has_each_private_attribute(attribute: str) -> None:
    import optuna

    assert hasattr(optuna.samplers.TPESampler(), attribute), (
        f"optuna {optuna.__version__} no longer has TPESampler.{attribute}: update tuner/engines/private.py"
    )
