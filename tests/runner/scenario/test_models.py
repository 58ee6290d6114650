"""`runner.scenario.models` re-exports the scenario models that `runner.config_errors` reflects over.

The models live in one module per concept; the re-export must not fall behind when a model is
added to one of them (the error messages would then mistake its union tags for keys).
"""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

import runner.scenario.agents
import runner.scenario.arrivals
import runner.scenario.config
import runner.scenario.costs
import runner.scenario.models
import runner.scenario.settlement

CONCEPT_MODULES = (
    runner.scenario.agents,
    runner.scenario.arrivals,
    runner.scenario.config,
    runner.scenario.costs,
    runner.scenario.settlement,
)


@pytest.mark.parametrize("module", CONCEPT_MODULES, ids=lambda m: m.__name__)
def test_every_model_of_a_concept_module_is_re_exported(module: object) -> None:
    defined = {
        name
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == getattr(module, "__name__", None)
    }
    assert defined, "a concept module without models"
    missing = defined - set(runner.scenario.models.__all__)
    assert not missing, f"add to runner.scenario.models: {sorted(missing)}"


def test_the_re_export_names_the_defining_modules_objects() -> None:
    for name in runner.scenario.models.__all__:
        obj = getattr(runner.scenario.models, name)
        if inspect.isclass(obj) and issubclass(obj, BaseModel):
            assert obj.__module__ != "runner.scenario.models", name  # defined elsewhere, only re-exported
