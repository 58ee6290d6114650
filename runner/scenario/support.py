"""Which scenario features run where, kept in one place.

Three lists, each entry naming the dotted key so the user sees exactly what is meant:

* **refused** — features no engine implements yet: the loader stops with
  "<key>: not supported yet (…)"; nothing is ever silently ignored;
* **batch-missing** — features the reference engine (``paylab simulate``) runs but the batch
  engine (every evaluation path) does not yet: `runner.engine.setup.build_setup` refuses them
  for the batch engine, naming the feature. Delete a line when the batch engine has it;
* **legacy** — keys SimCash accepts and ignores: the file loads with a one-line warning
  naming the key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.errors import NotSupportedError
from runner.scenario import events as scenario_events
from runner.scenario.agents import AgentConfig
from runner.scenario.config import ScenarioConfig

SUPPORTED_EVENTS = (
    scenario_events.CustomTransactionArrival,
    scenario_events.DirectTransfer,
    scenario_events.ScheduledSettlement,
    scenario_events.GlobalArrivalRateChange,
    scenario_events.AgentArrivalRateChange,
    scenario_events.CollateralAdjustment,
    scenario_events.CounterpartyWeightChange,
    scenario_events.DeadlineWindowChange,
)
BATCH_MISSING_EVENTS: tuple[type, ...] = ()

ScenarioCheck = tuple[str, str, Callable[[ScenarioConfig], bool]]
AgentCheck = tuple[str, str, Callable[[AgentConfig], bool]]

# Neither engine yet — delete a line when the feature lands.
_REFUSED_SCENARIO: list[ScenarioCheck] = []
_REFUSED_AGENT: list[AgentCheck] = []

# The reference engine runs these; the batch engine not yet.
_BATCH_MISSING_SCENARIO: list[ScenarioCheck] = []
_BATCH_MISSING_AGENT: list[AgentCheck] = []

# Keys SimCash accepts and ignores.
_LEGACY_SCENARIO: list[tuple[str, Callable[[ScenarioConfig], bool]]] = [
    ("simulation.lsm_enabled", lambda c: c.simulation.lsm_enabled is not None),
    ("simulation.lsm_frequency_ticks", lambda c: c.simulation.lsm_frequency_ticks is not None),
    ("cost_model", lambda c: c.cost_model is not None),
]
_LEGACY_AGENT: list[tuple[str, Callable[[AgentConfig], bool]]] = [
    ("overdraft_rate", lambda a: a.overdraft_rate is not None),
    ("delay_cost_per_tick", lambda a: a.delay_cost_per_tick is not None),
]


def _found(cfg: ScenarioConfig, scenario: list[ScenarioCheck], agent: list[AgentCheck]) -> list[tuple[str, str]]:
    found = [(key, detail) for key, detail, used in scenario if used(cfg)]
    for i, a in enumerate(cfg.agents):
        found += [(f"agents[{i}].{key}", detail) for key, detail, used in agent if used(a)]
    return found


def unsupported_features(cfg: ScenarioConfig) -> list[tuple[str, str]]:
    """(dotted key, detail) for every feature of ``cfg`` that no engine can run yet."""
    found = _found(cfg, _REFUSED_SCENARIO, _REFUSED_AGENT)
    for i, event in enumerate(cfg.scenario_events):
        if not isinstance(event, SUPPORTED_EVENTS):
            found.append((f"scenario_events[{i}].type", f"{event.type} events"))
    return found


def batch_missing_features(cfg: ScenarioConfig) -> list[tuple[str, str]]:
    """(dotted key, detail) for every feature of ``cfg`` the batch engine cannot run yet."""
    found = _found(cfg, _BATCH_MISSING_SCENARIO, _BATCH_MISSING_AGENT)
    for i, event in enumerate(cfg.scenario_events):
        if isinstance(event, BATCH_MISSING_EVENTS):
            found.append((f"scenario_events[{i}].type", f"{event.type} events"))
    return found


def legacy_warnings(cfg: ScenarioConfig) -> list[str]:
    """One line per legacy key of ``cfg`` that SimCash accepts and ignores (so do we)."""
    keys = [key for key, used in _LEGACY_SCENARIO if used(cfg)]
    for i, agent in enumerate(cfg.agents):
        keys += [f"agents[{i}].{key}" for key, used in _LEGACY_AGENT if used(agent)]
    esc = cfg.priority_escalation
    lines = [f"{key}: legacy key with no effect (as in SimCash); ignored" for key in keys]
    if esc is not None and esc.enabled and esc.curve != "linear":
        lines.append(f"priority_escalation.curve: '{esc.curve}' has no effect (as in SimCash); the boost is linear")
    return lines


def check_supported(cfg: ScenarioConfig, source: str | Path | None = None) -> None:
    """Raise `NotSupportedError` for the first feature of ``cfg`` no engine runs yet."""
    found = unsupported_features(cfg)
    if found:
        key, detail = found[0]
        raise NotSupportedError(detail, source=source, path=key)
