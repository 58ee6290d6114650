"""What one agent may see of a simulated day: its own events, and the scenario's public facts.

Agent isolation is enforced where the context is built: streams hold only the events
`runner.llm.events.filter_events_for_agent` lets this agent see (never another bank's
balances, costs, queues or policy), and the scenario facts are rules and rates only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runner.llm.events import filter_events_for_agent
from runner.proposals import SampleStream, ScenarioFacts, SettlementFacts
from runner.scenario.loader import Scenario


def agent_stream(
    label: str, seed: int | None, cost: int, events: Iterable[Mapping[str, Any]], agent: str
) -> SampleStream:
    return SampleStream(label, seed, cost, filter_events_for_agent(events, agent))


def settlement_facts(scenario: Scenario, agent: str) -> SettlementFacts:
    """The scenario's LSM and priority switches, and this agent's own limits and collateral."""
    cfg = scenario.config
    me = cfg.agent(agent)
    per_cpty, total = me.outflow_limits()
    esc = cfg.priority_escalation
    return SettlementFacts(
        cycles=cfg.lsm_config.enable_cycles,
        max_cycle_length=cfg.lsm_config.max_cycle_length,
        queue1_priority_deadline=cfg.queue1_ordering == "priority_deadline",
        priority_mode=cfg.priority_mode,
        escalation=(esc.start_ticks, esc.max_boost) if esc is not None and esc.enabled else None,
        bilateral_limits=tuple(sorted(per_cpty.items())),
        multilateral_limit=total,
        posted_collateral=me.posted_collateral,
        collateral_haircut=me.collateral_haircut,
        max_collateral_capacity=me.max_collateral_capacity,
        unsecured_cap=me.unsecured_cap,
    )


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
        settlement=settlement_facts(scenario, agent),
    )
