"""Every configuration model derives from the one `Strict` base: frozen, unknown keys are errors."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel, ValidationError

import runner.experiment.config
import runner.scenario.agents
import runner.scenario.arrivals
import runner.scenario.config
import runner.scenario.costs
import runner.scenario.events
import runner.scenario.settlement
import sweep.spec
from runner.config_base import Strict

SCENARIO_MODULES = (
    runner.scenario.config,
    runner.scenario.agents,
    runner.scenario.arrivals,
    runner.scenario.costs,
    runner.scenario.settlement,
    runner.scenario.events,
)
CONFIG_MODULES = (*SCENARIO_MODULES, runner.experiment.config, sweep.spec)
# A policy reference takes a named policy's keyword arguments inline (as SimCash allows).
EXTRA_ALLOWED = {runner.scenario.agents.PolicyRef}


def _models() -> list[type[BaseModel]]:
    return [
        cls
        for module in CONFIG_MODULES
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == module.__name__
    ]


def test_the_config_modules_define_models() -> None:
    assert len(_models()) > 20


@pytest.mark.parametrize("model", _models(), ids=lambda m: f"{m.__module__}.{m.__name__}")
def test_every_config_model_is_strict_and_frozen(model: type[BaseModel]) -> None:
    assert issubclass(model, Strict)
    assert model.model_config.get("frozen") is True
    assert model.model_config.get("extra") == ("allow" if model in EXTRA_ALLOWED else "forbid")


def test_unknown_keys_are_errors_and_instances_are_frozen() -> None:
    class Probe(Strict):
        size: int = 1

    with pytest.raises(ValidationError, match="extra"):
        Probe.model_validate({"size": 2, "szie": 3})
    with pytest.raises(ValidationError, match="frozen"):
        Probe().size = 3  # type: ignore[misc]
