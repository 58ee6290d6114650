"""Small deterministic scenarios for hand-worked engine tests (and the SimCash oracle).

Payments come only from ``CustomTransactionArrival`` events, so a scenario is fully
determined by its file; every bank runs Fifo (release everything at once). Costs default to
zero except what a test turns on, so its expected figures can be worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.engine.batch import evaluate_batch
from runner.engine.reference import ReferenceEngine
from runner.engine.results import CostTable
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.scenario.loader import scenario_from_dict
from tests.runner.engine.strategies import assert_tables_equal

ZERO_COSTS = {
    "overdraft_bps_per_tick": 0.0,
    "delay_cost_per_tick_per_cent": 0.0,
    "collateral_cost_per_tick_bps": 0.0,
    "deadline_penalty": 0,
    "eod_penalty": 0,
}


def pay(
    sender: str, receiver: str, amount: int, tick: int = 0, deadline: int = 50, priority: int = 5
) -> dict[str, Any]:
    """A scheduled payment (deadline relative to its tick, as SimCash writes it)."""
    return {
        "type": "CustomTransactionArrival",
        "from_agent": sender,
        "to_agent": receiver,
        "amount": amount,
        "priority": priority,
        "deadline": deadline,
        "schedule": {"type": "OneTime", "tick": tick},
    }


def scenario(
    balances: dict[str, int],
    events: list[dict[str, Any]],
    *,
    ticks: int = 3,
    days: int = 1,
    costs: dict[str, Any] | None = None,
    agents: dict[str, dict[str, Any]] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A scenario mapping: banks with opening ``balances`` (plus per-bank ``agents`` keys)."""
    return {
        "simulation": {"ticks_per_day": ticks, "num_days": days, "rng_seed": 1},
        "agents": [
            {"id": bank, "opening_balance": bal, **(agents or {}).get(bank, {})} for bank, bal in balances.items()
        ],
        "cost_rates": {**ZERO_COSTS, **(costs or {})},
        "scenario_events": events,
        **top,
    }


def run(raw: dict[str, Any]) -> tuple[CostTable, list[dict[str, Any]]]:
    """Simulate ``raw`` on the reference engine; its one-sample table and event trace.

    Unless the scenario uses something only the reference engine runs, the batch engine
    (fast and simple paths) must give the same table: every hand-worked case is a parity
    case too."""
    sc = scenario_from_dict(raw)
    setup = build_setup(sc, engine="reference")
    schedule = generate_schedule(sc.config, 1, setup.horizon)
    table, events = ReferenceEngine(setup).run(schedule, trace=True)
    if not setup.batch_missing:
        for fast in (True, False):
            assert_tables_equal(evaluate_batch(setup, [schedule], fast=fast), table, f"batch engine (fast={fast})")
    return table, events


def settle_ticks(raw: dict[str, Any]) -> list[int]:
    """Settlement tick of each payment in scenario-event order (-1: never)."""
    return [int(x) for x in run(raw)[0].settle_tick]


def paths(events: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    """(tick, sender, receiver, path) of every settlement in the trace, in order."""
    return [(e["tick"], e["sender"], e["receiver"], e["path"]) for e in events if e["type"] == "Settlement"]


def agent_costs(table: CostTable) -> dict[str, int]:
    """Total cost per bank over the whole run."""
    return {agent: int(v) for agent, v in zip(table.agent_ids, table.totals()[0], strict=True)}


def when(
    node: str, field: str, value: float, then: dict[str, Any], otherwise: dict[str, Any], op: str = "=="
) -> dict[str, Any]:
    """A policy-tree condition node ``field op value`` (SimCash wants the node id)."""
    return {
        "type": "condition",
        "node_id": node,
        "condition": {"op": op, "left": {"field": field}, "right": {"value": value}},
        "on_true": then,
        "on_false": otherwise,
    }


def leaf(node: str, action: str, **params: Any) -> dict[str, Any]:
    """A policy-tree action node with literal parameters."""
    out: dict[str, Any] = {"type": "action", "node_id": node, "action": action}
    if params:
        out["parameters"] = {k: {"value": v} for k, v in params.items()}
    return out


def policy_file(folder: Path, name: str, payment_tree: dict[str, Any]) -> dict[str, Any]:
    """Write a policy with ``payment_tree`` to ``folder/name.json``; the agent's policy entry."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"version": "1.0", "policy_id": name, "payment_tree": payment_tree}))
    return {"type": "FromJson", "json_path": str(path)}
