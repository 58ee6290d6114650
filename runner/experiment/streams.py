"""What one agent may see of a simulated day: its own events, and the scenario's public facts.

Agent isolation is enforced where the context is built: streams hold only the events
`runner.llm.events.filter_events_for_agent` lets this agent see (never another bank's
balances, costs, queues or policy), and the scenario facts are rules and rates only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runner.llm.events import filter_events_for_agent
from runner.proposals import SampleStream, ScenarioFacts
from runner.scenario.loader import Scenario


def agent_stream(label: str, seed: int | None, cost: int, events: Iterable[Mapping[str, Any]],
                 agent: str) -> SampleStream:
    return SampleStream(label, seed, cost, filter_events_for_agent(events, agent))


def scenario_facts(scenario: Scenario, agent: str) -> ScenarioFacts:
    cfg = scenario.config
    return ScenarioFacts(
        cost_rates=cfg.cost_rates,
        ticks_per_day=cfg.simulation.ticks_per_day,
        num_days=cfg.simulation.num_days,
        deferred_crediting=cfg.deferred_crediting,
        bilateral_offsetting=cfg.lsm_config.enable_bilateral,
        eod_penalty_scope=cfg.eod_penalty_scope,
        liquidity_pool=cfg.agent(agent).liquidity_pool,
    )
