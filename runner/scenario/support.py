"""The scenario features paylab parses but does not implement yet.

Kept in one place so that adding a feature means deleting its line here. Each entry names
the dotted key, so the user sees exactly what to change ("lsm_config.enable_cycles: not
supported yet (…)"); nothing is ever silently ignored.
"""

from __future__ import annotations

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


def unsupported_features(cfg: M.ScenarioConfig) -> list[tuple[str, str]]:
    """(dotted key, detail) for every feature of ``cfg`` that the engine cannot run yet."""
    found: list[tuple[str, str]] = []
    sim = cfg.simulation
    if sim.lsm_enabled is not None:
        found.append(("simulation.lsm_enabled", "legacy key with no effect in SimCash; use lsm_config"))
    if sim.lsm_frequency_ticks is not None:
        found.append(("simulation.lsm_frequency_ticks", "legacy key with no effect in SimCash"))
    if cfg.lsm_config.enable_cycles:
        found.append(("lsm_config.enable_cycles",
                      "multilateral LSM cycles; SimCash enables them by default, set false"))
    if cfg.priority_escalation is not None and cfg.priority_escalation.enabled:
        found.append(("priority_escalation.enabled", "priority escalation"))
    if cfg.queue1_ordering != "fifo":
        found.append(("queue1_ordering", "only fifo ordering"))
    if cfg.priority_mode:
        found.append(("priority_mode", "central-queue priority ordering"))
    if cfg.cost_model is not None:
        found.append(("cost_model", "legacy cost block; use cost_rates"))
    for i, agent in enumerate(cfg.agents):
        at = f"agents[{i}]"
        if agent.arrival_bands is not None:
            found.append((f"{at}.arrival_bands", "per-band arrivals"))
        if agent.posted_collateral:
            found.append((f"{at}.posted_collateral", "collateral"))
        if agent.bilateral_limits is not None:
            found.append((f"{at}.bilateral_limits", "bilateral limits"))
        if agent.multilateral_limit is not None:
            found.append((f"{at}.multilateral_limit", "multilateral limits"))
        if agent.limits is not None:
            found.append((f"{at}.limits", "bilateral/multilateral limits"))
        if agent.policy.type in ("LiquiditySplitting", "MockSplitting"):
            found.append((f"{at}.policy.type", f"{agent.policy.type} (payment splitting)"))
        for key in ("overdraft_rate", "delay_cost_per_tick"):
            if getattr(agent, key) is not None:
                found.append((f"{at}.{key}", "legacy per-agent cost key; use cost_rates"))
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
