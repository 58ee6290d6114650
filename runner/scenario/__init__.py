"""Scenario files: strict models, the loader and the list of not-yet-supported features."""

from runner.scenario.config import ScenarioConfig
from runner.scenario.loader import Scenario, load_scenario, scenario_from_dict

__all__ = ["Scenario", "ScenarioConfig", "load_scenario", "scenario_from_dict"]
