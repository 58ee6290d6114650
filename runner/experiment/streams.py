"""What one agent may see of a simulated day: its own events, and the scenario's public facts.

Agent isolation: an agent sees its own arrivals, decisions, settlements it pays or receives,
its own costs, penalties and queue events, and the end of day — never another bank's
balances, costs, queues or policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runner.proposals import SampleStream, ScenarioFacts
from runner.scenario.loader import Scenario

PARTY_KEYS = ("agent", "sender", "receiver")
PUBLIC_TYPES = {"EndOfDay"}


def visible_to(event: Mapping[str, Any], agent: str) -> bool:
    if event.get("type") in PUBLIC_TYPES:
        return True
    if event.get("type") == "LsmOffset":
        return agent in event.get("agents", ())
    return any(event.get(k) == agent for k in PARTY_KEYS)


def redact(event: Mapping[str, Any], agent: str) -> dict[str, Any]:
    """The event as ``agent`` may see it (an offset shows only that it took part)."""
    if event.get("type") == "LsmOffset":
        return {"tick": event["tick"], "type": "LsmOffset", "agent": agent}
    if event.get("type") == "EndOfDay":
        return {"tick": event["tick"], "type": "EndOfDay", "day": event.get("day")}
    return dict(event)


def filter_events_for_agent(events: Iterable[Mapping[str, Any]], agent: str) -> list[dict[str, Any]]:
    """Only the events ``agent`` is a party to, stripped of other agents' private data."""
    return [redact(e, agent) for e in events if visible_to(e, agent)]


def agent_stream(label: str, seed: int | None, cost: int, events: Iterable[Mapping[str, Any]],
                 agent: str) -> SampleStream:
    return SampleStream(label, seed, cost, tuple(filter_events_for_agent(events, agent)))


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
