"""Collateral, worked out by hand: the credit it secures (after the haircut), its cost, the
collateral trees' PostCollateral / WithdrawCollateral, and auto-withdraw timers
(docs/engine.md, "Collateral"). Collateral cost: 10 bps a tick, so 1 cent per 1 000 posted,
rounded half up per bank and tick. (Policies carry node ids so the same files run in the
SimCash oracle, which requires them.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.engine.setup import build_setup
from runner.scenario.loader import scenario_from_dict
from tests.runner.engine.handworked import agent_costs, pay, run, scenario, settle_ticks

COSTS = {"collateral_cost_per_tick_bps": 10.0}


def release_all(**trees: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "policy_id": "handworked",
        "payment_tree": {"type": "action", "node_id": "release", "action": "Release"},
        **trees,
    }


def action(name: str, **params: float) -> dict[str, Any]:
    return {
        "type": "action",
        "node_id": name.lower(),
        "action": name,
        "parameters": {k: {"value": v} for k, v in params.items()},
    }


def at_tick_0(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "condition",
        "node_id": "tick_0",
        "condition": {"op": "==", "left": {"field": "current_tick"}, "right": {"value": 0}},
        "on_true": node,
        "on_false": {"type": "action", "node_id": "hold", "action": "HoldCollateral"},
    }


def with_policy(tmp_path: Path, raw: dict[str, Any], bank: str, doc: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / f"{bank}.json"
    path.write_text(json.dumps(doc))
    for agent in raw["agents"]:
        if agent["id"] == bank:
            agent["policy"] = {"type": "FromJson", "json_path": str(path)}
    return raw


@pytest.mark.parametrize(("amount", "settles"), [(900, True), (901, False)])
def test_posted_collateral_secures_credit_after_the_haircut(amount: int, settles: bool) -> None:
    """1 000 posted at a 10 % haircut secures 900 of overdraft; it costs 1 cent a tick."""
    raw = scenario(
        {"A": 0, "B": 0},
        [pay("A", "B", amount)],
        costs=COSTS,
        agents={"A": {"posted_collateral": 1_000, "collateral_haircut": 0.1}},
    )
    table, _ = run(raw)
    assert [int(x) for x in table.settle_tick] == ([0] if settles else [-1])
    assert agent_costs(table)["A"] == 3


def test_strategic_tree_posts_before_payments_up_to_capacity(tmp_path: Path) -> None:
    """PostCollateral 1 000 every tick, capacity 2 500, no haircut: posted 1 000, 2 000,
    2 500 (the last post is cut to the room left). The payment of 1 000 at tick 0 settles at
    once on the new credit. Cost 1 + 2 + round(2.5) = 6."""
    raw = scenario(
        {"A": 0, "B": 0},
        [pay("A", "B", 1_000)],
        costs=COSTS,
        agents={"A": {"max_collateral_capacity": 2_500, "collateral_haircut": 0.0}},
    )
    doc = release_all(strategic_collateral_tree=action("PostCollateral", amount=1_000))
    table, events = run(with_policy(tmp_path, raw, "A", doc))
    assert [int(x) for x in table.settle_tick] == [0]
    assert [e["posted"] for e in events if e["type"] == "CollateralPost"] == [1_000, 2_000, 2_500]
    assert agent_costs(table)["A"] == 6


def test_end_of_tick_tree_withdraws_at_most_what_is_posted(tmp_path: Path) -> None:
    """1 000 posted, WithdrawCollateral 400 at each end of tick: 600, 200, 0 posted when
    costs accrue: round(0.6) + round(0.2) + 0 = 1."""
    raw = scenario({"A": 0, "B": 0}, [], costs=COSTS, agents={"A": {"posted_collateral": 1_000}})
    doc = release_all(end_of_tick_collateral_tree=action("WithdrawCollateral", amount=400))
    table, events = run(with_policy(tmp_path, raw, "A", doc))
    assert [e["amount"] for e in events if e["type"] == "CollateralWithdraw"] == [400, 400, 200]
    assert agent_costs(table)["A"] == 1


@pytest.mark.parametrize(("payment", "cost"), [(0, 2), (900, 3)])
def test_auto_withdraw_timer_keeps_what_secures_credit_in_use(tmp_path: Path, payment: int, cost: int) -> None:
    """1 000 posted at tick 0 with a 2-tick timer. At tick 2 the timer may take only what
    keeps the allowed overdraft 100 above the credit in use (A has no unsecured cap). Unused:
    1 000 − 100 = 900 is withdrawn, 100 stays (cost 1 + 1 + round(0.1) = 2). If A has
    borrowed 900 against it: 1 000 − 1 000 = 0, it all stays (cost 3)."""
    events = [pay("A", "B", payment)] if payment else []
    raw = scenario(
        {"A": 0, "B": 0},
        events,
        costs=COSTS,
        agents={"A": {"max_collateral_capacity": 5_000, "collateral_haircut": 0.0}},
    )
    doc = release_all(
        strategic_collateral_tree=at_tick_0(action("PostCollateral", amount=1_000, auto_withdraw_after_ticks=2))
    )
    table, trace = run(with_policy(tmp_path, raw, "A", doc))
    timer = [e for e in trace if e["type"] == "CollateralTimerWithdraw"]
    assert [(e["tick"], e["amount"]) for e in timer] == [(2, 0 if payment else 900)]
    assert agent_costs(table)["A"] == cost


def test_collateral_adjustment_moves_the_unsecured_cap() -> None:
    """A owes B 100 with nothing; at tick 1 a CollateralAdjustment of +100 raises its cap
    and the queued payment settles that tick."""
    bump = {"type": "CollateralAdjustment", "agent": "A", "delta": 100, "schedule": {"type": "OneTime", "tick": 1}}
    assert settle_ticks(scenario({"A": 0, "B": 0}, [pay("A", "B", 100), bump])) == [1]


def test_batch_engine_runs_collateral_actions(tmp_path: Path) -> None:
    """The batch engine runs the collateral trees (the hand-worked cases above check it
    against the reference through `run`)."""
    raw = scenario(
        {"A": 0, "B": 0}, [], agents={"A": {"max_collateral_capacity": 5_000}}, lsm_config={"enable_cycles": False}
    )
    doc = release_all(strategic_collateral_tree=action("PostCollateral", amount=1_000))
    sc = scenario_from_dict(with_policy(tmp_path, raw, "A", doc))
    assert not build_setup(sc).batch_missing
    assert not build_setup(sc, engine="reference").batch_missing


def test_default_capacity_follows_the_unsecured_cap(tmp_path: Path) -> None:
    """No max_collateral_capacity: 10 × the current cap. A posts 600 a tick with cap 100
    (capacity 1 000): 600 at tick 0; a CollateralAdjustment of −50 at tick 1 cuts the
    capacity to 500, below what is posted, so nothing more is posted (SimCash agrees)."""
    cut = {"type": "CollateralAdjustment", "agent": "A", "delta": -50, "schedule": {"type": "OneTime", "tick": 1}}
    raw = scenario({"A": 0, "B": 0}, [cut], agents={"A": {"unsecured_cap": 100}})
    doc = release_all(strategic_collateral_tree=action("PostCollateral", amount=600))
    _, events = run(with_policy(tmp_path, raw, "A", doc))
    assert [(e["tick"], e["posted"]) for e in events if e["type"] == "CollateralPost"] == [(0, 600)]


def test_timer_takes_everything_when_collateral_secures_nothing(tmp_path: Path) -> None:
    """At a haircut of 1 posted collateral secures no credit, so the timer withdraws it all."""
    raw = scenario(
        {"A": 0, "B": 0}, [], costs=COSTS, agents={"A": {"max_collateral_capacity": 5_000, "collateral_haircut": 1.0}}
    )
    doc = release_all(
        strategic_collateral_tree=at_tick_0(action("PostCollateral", amount=1_000, auto_withdraw_after_ticks=2))
    )
    table, trace = run(with_policy(tmp_path, raw, "A", doc))
    assert [(e["tick"], e["amount"]) for e in trace if e["type"] == "CollateralTimerWithdraw"] == [(2, 1_000)]
    assert agent_costs(table)["A"] == 2


def full_haircut_day(tmp_path: Path) -> dict[str, Any]:
    """A: cap 1 364, 2 000 posted at a haircut of 1 (it secures nothing); a 2 124 transfer out
    at tick 0 uses 760 of credit beyond the cap. A's strategic tree withdraws everything
    when ``excess_collateral`` ≥ 2 000, else holds."""
    raw = scenario(
        {"A": 0, "B": 0},
        [
            {
                "type": "DirectTransfer",
                "from_agent": "A",
                "to_agent": "B",
                "amount": 2_124,
                "schedule": {"type": "OneTime", "tick": 0},
            }
        ],
        costs=COSTS,
        agents={"A": {"unsecured_cap": 1_364, "posted_collateral": 2_000, "collateral_haircut": 1.0}},
    )
    tree = {
        "type": "condition",
        "node_id": "all_excess",
        "condition": {"op": ">=", "left": {"field": "excess_collateral"}, "right": {"value": 2_000}},
        "on_true": action("WithdrawCollateral", amount=2_000),
        "on_false": {"type": "action", "node_id": "hold", "action": "HoldCollateral"},
    }
    return with_policy(tmp_path, raw, "A", release_all(strategic_collateral_tree=tree))


def test_at_a_full_haircut_no_collateral_is_required(tmp_path: Path) -> None:
    """At a haircut of 1 ``required_collateral_for_usage`` is 0 (as in SimCash, and as the
    auto-withdraw timers count it), so ``excess_collateral`` is all 2 000 posted: A
    withdraws it at tick 0 and pays no collateral cost (it would pay 2 a tick holding it)."""
    table, events = run(full_haircut_day(tmp_path))
    assert [e["type"] for e in events if e["type"].startswith("Collateral")] == ["CollateralWithdraw"]
    assert agent_costs(table)["A"] == 0
