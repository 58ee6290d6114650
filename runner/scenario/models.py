"""Every scenario model in one namespace: a re-export, no definitions.

The models live in one module per concept (`runner.scenario.config`, `.agents`, `.arrivals`,
`.costs`, `.settlement`, `.events`); import them from there. This namespace stays because
`runner.config_errors` reflects over it to learn the union tags pydantic may put in an error's
location (every model's class name and ``type``/``mode`` literals). It imports the concept
modules and none of them imports it, so no import cycle can start here.
"""

from __future__ import annotations

from runner.scenario.agents import AgentConfig, OutflowLimits, PolicyRef
from runner.scenario.arrivals import (
    AmountDistribution,
    ArrivalBand,
    ArrivalBands,
    ArrivalConfig,
    CategoricalPriority,
    ExponentialAmount,
    FixedPriority,
    LogNormalAmount,
    NormalAmount,
    PriorityDistribution,
    UniformAmount,
    UniformPriority,
)
from runner.scenario.config import ScenarioConfig, SimulationSettings
from runner.scenario.costs import (
    Cents,
    CostRates,
    FixedPenalty,
    NonNegCents,
    Penalty,
    PriorityDelayMultipliers,
    RatePenalty,
)
from runner.scenario.events import CounterpartyWeightChange, ScenarioEvent
from runner.scenario.settlement import LsmConfig, PriorityEscalation

__all__ = [
    "AgentConfig",
    "AmountDistribution",
    "ArrivalBand",
    "ArrivalBands",
    "ArrivalConfig",
    "CategoricalPriority",
    "Cents",
    "CostRates",
    "CounterpartyWeightChange",
    "ExponentialAmount",
    "FixedPenalty",
    "FixedPriority",
    "LogNormalAmount",
    "LsmConfig",
    "NonNegCents",
    "NormalAmount",
    "OutflowLimits",
    "Penalty",
    "PolicyRef",
    "PriorityDelayMultipliers",
    "PriorityDistribution",
    "PriorityEscalation",
    "RatePenalty",
    "ScenarioConfig",
    "ScenarioEvent",
    "SimulationSettings",
    "UniformAmount",
    "UniformPriority",
]
