"""Scenario files: strict models, the loader and the list of not-yet-supported features."""

from runner.scenario.loader import Scenario, load_scenario, scenario_from_dict
from runner.scenario.models import ScenarioConfig

__all__ = ["Scenario", "ScenarioConfig", "load_scenario", "scenario_from_dict"]
