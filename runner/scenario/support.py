"""The scenario features paylab parses but does not implement yet.

Kept in one place so that adding a feature means deleting its line here. Each entry names
the dotted key, so the user sees exactly what to change ("lsm_config.enable_cycles: not
supported yet (…)"); nothing is ever silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.errors import NotSupportedError
from runner.scenario import models as M

SUPPORTED_EVENTS = (
    M.CustomTransactionArrival,
    M.DirectTransfer,
    M.ScheduledSettlement,
    M.GlobalArrivalRateChange,
    M.AgentArrivalRateChange,
)


# (dotted key, detail, predicate on the scenario) — delete a line when the feature lands.
_SCENARIO_CHECKS: list[tuple[str, str, Callable[[M.ScenarioConfig], bool]]] = [
    ("simulation.lsm_enabled", "legacy key with no effect in SimCash; use lsm_config",
     lambda c: c.simulation.lsm_enabled is not None),
    ("simulation.lsm_frequency_ticks", "legacy key with no effect in SimCash",
     lambda c: c.simulation.lsm_frequency_ticks is not None),
    ("lsm_config.enable_cycles", "multilateral LSM cycles; SimCash enables them by default, set false",
     lambda c: c.lsm_config.enable_cycles),
    ("priority_escalation.enabled", "priority escalation",
     lambda c: c.priority_escalation is not None and c.priority_escalation.enabled),
    ("queue1_ordering", "only fifo ordering", lambda c: c.queue1_ordering != "fifo"),
    ("priority_mode", "central-queue priority ordering", lambda c: c.priority_mode),
    ("cost_model", "legacy cost block; use cost_rates", lambda c: c.cost_model is not None),
]
_AGENT_CHECKS: list[tuple[str, str, Callable[[M.AgentConfig], bool]]] = [
    ("arrival_bands", "per-band arrivals", lambda a: a.arrival_bands is not None),
    ("posted_collateral", "collateral", lambda a: bool(a.posted_collateral)),
    ("bilateral_limits", "bilateral limits", lambda a: a.bilateral_limits is not None),
    ("multilateral_limit", "multilateral limits", lambda a: a.multilateral_limit is not None),
    ("limits", "bilateral/multilateral limits", lambda a: a.limits is not None),
    ("policy.type", "payment splitting policies",
     lambda a: a.policy.type in ("LiquiditySplitting", "MockSplitting")),
    ("overdraft_rate", "legacy per-agent cost key; use cost_rates", lambda a: a.overdraft_rate is not None),
    ("delay_cost_per_tick", "legacy per-agent cost key; use cost_rates",
     lambda a: a.delay_cost_per_tick is not None),
]


def unsupported_features(cfg: M.ScenarioConfig) -> list[tuple[str, str]]:
    """(dotted key, detail) for every feature of ``cfg`` that the engine cannot run yet."""
    found = [(key, detail) for key, detail, used in _SCENARIO_CHECKS if used(cfg)]
    for i, agent in enumerate(cfg.agents):
        found += [(f"agents[{i}].{key}", detail) for key, detail, used in _AGENT_CHECKS if used(agent)]
    for i, event in enumerate(cfg.scenario_events):
        if not isinstance(event, SUPPORTED_EVENTS):
            found.append((f"scenario_events[{i}].type", f"{event.type} events"))
    return found


def check_supported(cfg: M.ScenarioConfig, source: str | Path | None = None) -> None:
    """Raise `NotSupportedError` for the first unsupported feature of ``cfg``."""
    found = unsupported_features(cfg)
    if found:
        key, detail = found[0]
        raise NotSupportedError(detail, source=source, path=key)
