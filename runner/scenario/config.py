"""The top-level scenario model (`ScenarioConfig`): a scenario file's keys and the checks that
tie its parts together (unique agent ids, counterparties and event agents that exist, caps
that stay >= 0).

The scenario models are split by concept: `runner.scenario.agents`, `runner.scenario.arrivals`,
`runner.scenario.costs`, `runner.scenario.settlement` and `runner.scenario.events`; this module
holds only what spans them, and the clock (``simulation``). Every model is frozen and forbids
unknown keys. A validator's message starts with the dotted path of the offending field
relative to its model (``"max: must be >= min (5), got 2"``), so `runner.config_errors` can
name the exact field. Keys that SimCash knows but paylab does not implement yet parse here
and are rejected by `runner.scenario.support` with a "not supported yet" error, so nothing is
ever silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from runner.config_base import Strict
from runner.scenario.agents import AgentConfig
from runner.scenario.costs import CostRates
from runner.scenario.events import (
    CounterpartyWeightChange,
    ScenarioEvent,
    cap_adjustment_error,
)
from runner.scenario.settlement import LsmConfig, PriorityEscalation


class SimulationSettings(Strict):
    ticks_per_day: int = Field(gt=0)
    num_days: int = Field(default=1, gt=0)
    rng_seed: int = Field(default=0, ge=0)
    # Legacy SimCash keys with no effect there either; parsed so they can be reported.
    lsm_enabled: bool | None = None
    lsm_frequency_ticks: int | None = None


class ScenarioConfig(Strict):
    """A scenario file: agents, arrivals, events, cost rates and settlement rules."""

    simulation: SimulationSettings
    agents: list[AgentConfig] = Field(min_length=1)
    cost_rates: CostRates = CostRates()
    lsm_config: LsmConfig = LsmConfig()
    scenario_events: list[ScenarioEvent] = Field(default_factory=list)
    deferred_crediting: bool = False
    deadline_cap_at_eod: bool = False
    eod_penalty_scope: Literal["unsettled", "overdue"] = "unsettled"
    eod_rush_threshold: float = Field(default=0.8, ge=0, le=1)
    # T2-style features: parsed so the support check can name them.
    priority_escalation: PriorityEscalation | None = None
    algorithm_sequencing: bool = False
    entry_disposition_offsetting: bool = False
    queue1_ordering: Literal["fifo", "priority_deadline"] = "fifo"
    priority_mode: bool = False
    cost_model: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _references(self) -> ScenarioConfig:
        # Messages start with the dotted path of the offending field (see runner.config_errors).
        ids = [a.id for a in self.agents]
        for i, agent_id in enumerate(ids):
            if agent_id in ids[:i]:
                raise ValueError(
                    f"agents[{i}].id: must be unique, got '{agent_id}' again (also agents[{ids.index(agent_id)}].id)"
                )
        for i, agent in enumerate(self.agents):
            if agent.arrival_config is not None:
                self._check_counterparties(
                    i, agent.id, agent.arrival_config.counterparty_weights, f"agents[{i}].arrival_config", ids
                )
            for band_name, band in agent.arrival_bands.present() if agent.arrival_bands else ():
                self._check_counterparties(
                    i, agent.id, band.counterparty_weights, f"agents[{i}].arrival_bands.{band_name}", ids
                )
            self._check_limits(i, agent, ids)
        for i, event in enumerate(self.scenario_events):
            for attr in ("from_agent", "to_agent", "agent", "counterparty"):
                name = getattr(event, attr, None)
                if name is not None and name not in ids:
                    raise ValueError(f"scenario_events[{i}].{attr}: unknown agent '{name}' (agents: {', '.join(ids)})")
            if isinstance(event, CounterpartyWeightChange):
                self._check_weight_change(i, event)
            sender = getattr(event, "from_agent", None)
            if sender is not None and sender == getattr(event, "to_agent", None):
                raise ValueError(f"scenario_events[{i}].to_agent: must differ from from_agent, got '{sender}' for both")
        problem = cap_adjustment_error(
            self.scenario_events, self.episode_ticks, {a.id: a.unsecured_cap for a in self.agents}
        )
        if problem:
            raise ValueError(problem)
        return self

    def _check_weight_change(self, i: int, event: CounterpartyWeightChange) -> None:
        if event.counterparty == event.agent:
            raise ValueError(f"scenario_events[{i}].counterparty: an agent cannot pay itself ('{event.agent}')")
        if self.agent(event.agent).arrival_config is None:
            raise ValueError(
                f"scenario_events[{i}].agent: '{event.agent}' has no arrival_config, whose weights this event changes"
            )

    @staticmethod
    def _check_limits(i: int, agent: AgentConfig, ids: list[str]) -> None:
        per_cpty = agent.bilateral_limits
        where = f"agents[{i}].bilateral_limits"
        if per_cpty is None and agent.limits is not None:
            per_cpty, where = agent.limits.bilateral_limits, f"agents[{i}].limits.bilateral_limits"
        for name in per_cpty or {}:
            if name == agent.id:
                raise ValueError(f"{where}.{name}: an agent cannot limit payments to itself")
            if name not in ids:
                raise ValueError(
                    f"{where}.{name}: '{name}' is not an agent of this scenario (agents: {', '.join(ids)})"
                )

    @staticmethod
    def _check_counterparties(i: int, me: str, weights: dict[str, float], block: str, ids: list[str]) -> None:
        for name in weights:
            where = f"{block}.counterparty_weights.{name}"
            if name == me:
                raise ValueError(f"{where}: an agent cannot pay itself ('{name}')")
            if name not in ids:
                raise ValueError(f"{where}: '{name}' is not an agent of this scenario (agents: {', '.join(ids)})")
        if len(ids) < 2:
            raise ValueError(f"{block}: agent '{me}' has arrivals but there is no other agent to pay")

    @property
    def episode_ticks(self) -> int:
        return self.simulation.ticks_per_day * self.simulation.num_days

    def agent(self, agent_id: str) -> AgentConfig:
        for a in self.agents:
            if a.id == agent_id:
                return a
        raise KeyError(agent_id)
