"""The event filter, systematically over every event type the engine emits (issues #10, #11).

A real reference-engine trace of days that use the #10 rules (LSM offsets and cycles, limits,
collateral posts, withdrawals and timers, credit-cap changes) and the #11 splits (a third day
where B1 splits and B2 stagger-splits, so parts arrive, queue and settle) is filtered for
each bank:

* every event type in the trace has a visibility decision here (`VISIBLE_TO`) — an event type
  the engine starts emitting fails this test until someone decides who may see it;
* an event reaches exactly the banks its decision names, and no other;
* what reaches a bank names no bank but itself and its direct counterparties in that event,
  and carries no amount of another bank's (gross/net LSM values, others' balances).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import pytest

from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.llm.events import filter_events_for_agent, format_events
from runner.policy import parse_valid_policy
from runner.scenario import scenario_from_dict

IDS = ("B0", "B1", "B2", "B3")
Event = Mapping[str, Any]


def _owner(key: str) -> Callable[[Event], set[str]]:
    return lambda e: {e[key]}


def _parties(e: Event) -> set[str]:
    return {e["sender"], e["receiver"]}


def _members(e: Event) -> set[str]:
    return set(e["agents"])


# event type -> the banks that may see it
VISIBLE_TO: dict[str, Callable[[Event], set[str]]] = {
    "Arrival": _owner("sender"),
    "PolicyDecision": _owner("agent"),
    "BankDecision": _owner("agent"),
    "QueuedRtgs": _owner("sender"),
    "Overdue": _owner("sender"),
    "EodPenalty": _owner("sender"),
    "ScheduledSettlementFailed": _owner("sender"),
    "CostAccrual": _owner("agent"),
    "CollateralPost": _owner("agent"),
    "CollateralWithdraw": _owner("agent"),
    "CollateralTimerWithdraw": _owner("agent"),
    "CollateralAdjustment": _owner("agent"),
    "Split": _owner("sender"),
    "Settlement": _parties,
    "DirectTransfer": _parties,
    "LsmOffset": _members,
    "LsmCycle": _members,
    "EndOfDay": lambda e: set(IDS),
}
NEW_TYPES = {
    "LsmCycle",
    "CollateralPost",
    "CollateralWithdraw",
    "CollateralTimerWithdraw",
    "CollateralAdjustment",
    "Split",
}


def _counterparties(e: Event, me: str) -> set[str]:
    """The banks ``me`` may see named in ``e``: itself, and its direct counterparties."""
    if e["type"] == "LsmCycle":
        ring = list(e["agents"])
        i = ring.index(me)
        return {me, ring[i - 1], ring[(i + 1) % len(ring)]}
    named = {e.get(k) for k in ("sender", "receiver", "agent")} | set(e.get("agents", ()))
    return {me} | {n for n in named if isinstance(n, str)}


def _collateral_policy() -> dict[str, Any]:
    post = {
        "type": "action",
        "node_id": "post",
        "action": "PostCollateral",
        "parameters": {"amount": {"value": 700}, "auto_withdraw_after_ticks": {"value": 2}},
    }
    withdraw = {
        "type": "action",
        "node_id": "take",
        "action": "WithdrawCollateral",
        "parameters": {"amount": {"value": 200}},
    }
    first_tick = {"op": "==", "left": {"field": "current_tick"}, "right": {"value": 0}}
    return {
        "version": "1.0",
        "policy_id": "collateral",
        "payment_tree": {"type": "action", "node_id": "go", "action": "Release"},
        "strategic_collateral_tree": {
            "type": "condition",
            "node_id": "c",
            "condition": first_tick,
            "on_true": post,
            "on_false": withdraw,
        },
    }


def _splitting_policy(action: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Release whole on the first two days, split every payment in 3 on the third."""
    params = {"num_splits": {"value": 3}} | {k: {"value": v} for k, v in extra.items()}
    split = {"type": "action", "node_id": "split", "action": action, "parameters": params}
    third_day = {"op": ">=", "left": {"field": "current_tick"}, "right": {"value": 8}}
    not_a_part = {"op": "==", "left": {"field": "is_split"}, "right": {"value": 0}}
    release = {"type": "action", "node_id": "go", "action": "Release"}
    return {
        "version": "1.0",
        "policy_id": f"split-{action}",
        "payment_tree": {
            "type": "condition",
            "node_id": "day3",
            "condition": third_day,
            "on_true": {
                "type": "condition",
                "node_id": "whole",
                "condition": not_a_part,
                "on_true": split,
                "on_false": release,
            },
            "on_false": release | {"node_id": "go_whole"},
        },
    }


@cache
def trace() -> tuple[dict[str, Any], ...]:
    """A 3-day trace with offsets, a 3- and a 4-bank cycle, limits, collateral and cap changes,
    and splits (a split part that waits in Queue 2, staggered parts released later)."""

    def pay(frm: int, to: int, amount: int, tick: int) -> dict[str, Any]:
        return {
            "type": "CustomTransactionArrival",
            "from_agent": IDS[frm],
            "to_agent": IDS[to],
            "amount": amount,
            "deadline": 2,
            "schedule": {"type": "OneTime", "tick": tick},
        }

    raw = {
        "simulation": {"ticks_per_day": 4, "num_days": 3, "rng_seed": 1},
        "cost_rates": {
            "delay_cost_per_tick_per_cent": 0.1,
            "collateral_cost_per_tick_bps": 50,
            "split_friction_cost": 30,
            "deadline_penalty": 500,
            "eod_penalty_per_transaction": 700,
        },
        "lsm_config": {"enable_bilateral": True, "enable_cycles": True, "max_cycle_length": 4},
        "agents": [
            {"id": "B0", "opening_balance": 100, "unsecured_cap": 200, "max_collateral_capacity": 5_000},
            {"id": "B1", "opening_balance": 100, "bilateral_limits": {"B3": 1_000}},
            {"id": "B2", "opening_balance": 100},
            {"id": "B3", "opening_balance": 0},
        ],
        "scenario_events": [
            pay(0, 1, 3_000, 0),
            pay(1, 2, 3_000, 0),
            pay(2, 0, 3_000, 0),  # 3-bank ring
            pay(0, 1, 2_000, 1),
            pay(1, 0, 1_900, 1),  # a bilateral offset
            pay(0, 1, 4_000, 4),
            pay(1, 3, 4_000, 4),
            pay(3, 2, 4_000, 4),
            pay(2, 0, 4_000, 4),
            pay(1, 3, 1_500, 5),
            pay(3, 1, 9_000, 6),  # over B1's limit to B3; B3 cannot pay
            {
                "type": "DirectTransfer",
                "from_agent": "B2",
                "to_agent": "B3",
                "amount": 50,
                "schedule": {"type": "OneTime", "tick": 2},
            },
            {"type": "CollateralAdjustment", "agent": "B0", "delta": -100, "schedule": {"type": "OneTime", "tick": 3}},
            pay(1, 0, 3_001, 8),
            pay(2, 3, 90, 8),
            pay(1, 3, 20_000, 9),  # day 3: splits
            {
                "type": "DirectTransfer",
                "from_agent": "B3",
                "to_agent": "B2",
                "amount": 60,
                "schedule": {"type": "OneTime", "tick": 9},
            },  # B2's staggered parts can settle
        ],
    }
    scenario = scenario_from_dict(raw)
    policies = {
        "B0": _collateral_policy(),
        "B1": _splitting_policy("Split", {}),
        "B2": _splitting_policy("StaggerSplit", {"stagger_first_now": 1}),
    }
    setup = build_setup(scenario, {a: parse_valid_policy(p) for a, p in policies.items()}, engine="reference")
    _, events = ReferenceEngine(setup).run(generate_schedule(scenario.config, 1, setup.horizon), trace=True)
    return tuple(events)


def test_the_trace_exercises_the_new_event_types() -> None:
    kinds = {e["type"] for e in trace()}
    assert kinds >= NEW_TYPES, NEW_TYPES - kinds
    assert {"LsmOffset", "Settlement", "QueuedRtgs", "DirectTransfer"} <= kinds
    paths = {e.get("path") for e in trace() if e["type"] == "Settlement"}
    assert {"cycle", "offset"} <= paths
    parts = {c for e in trace() if e["type"] == "Split" for c in e["children"]}
    part_events = {e["type"] for e in trace() if e.get("tx") in parts}
    assert {"Arrival", "Settlement", "QueuedRtgs", "PolicyDecision"} <= part_events
    assert {e["action"] for e in trace() if e["type"] == "Split"} == {"Split", "StaggerSplit"}


def test_every_emitted_type_has_a_visibility_decision() -> None:
    unknown = {e["type"] for e in trace()} - set(VISIBLE_TO)
    assert not unknown, f"decide who may see {sorted(unknown)} (runner/llm/events.py and here)"


@pytest.mark.parametrize("me", IDS)
def test_each_event_reaches_exactly_its_banks(me: str) -> None:
    events = trace()
    seen = filter_events_for_agent(events, me)
    expected = [e for e in events if me in VISIBLE_TO[e["type"]](e)]
    assert [(e["tick"], e["type"]) for e in seen] == [(e["tick"], e["type"]) for e in expected]
    for original, view in zip(expected, seen, strict=True):
        text = json.dumps(view)
        for other in set(IDS) - _counterparties(original, me):
            assert other not in text, f"{me} sees {other} in {view} (from {original})"
        for secret in ("gross", "net", "unsettled", "balance"):
            assert secret not in view, f"{me} sees {secret} in {view}"


@pytest.mark.parametrize("me", IDS)
def test_filtering_is_idempotent_and_formats(me: str) -> None:
    once = filter_events_for_agent(trace(), me)
    assert filter_events_for_agent(once, me) == once
    assert format_events(once, me, max_lines=500) == format_events(trace(), me, max_lines=500)


def test_new_event_lines_read_as_text() -> None:
    text = "\n".join(format_events(trace(), "B0", max_lines=500))
    assert "LSM cycle of 3 banks settled" in text
    assert "collateral posted $7.00" in text and "back at t2" in text
    assert "timed collateral withdrawal" in text and "collateral withdrawn $2.00" in text
    assert "unsecured credit cap changed by -$1.00" in text
    assert "settled in an LSM cycle" in text


def test_splits_reach_the_splitting_bank_only_and_read_as_text() -> None:
    splits = [e for e in trace() if e["type"] == "Split"]
    parts = {c: e["sender"] for e in splits for c in e["children"]}
    for me in IDS:
        seen = filter_events_for_agent(trace(), me)
        assert {e["tx"] for e in seen if e["type"] == "Split"} == {e["tx"] for e in splits if e["sender"] == me}
        # a part's arrival (which names its parent) reaches its sender only
        arrivals = [e for e in seen if e["type"] == "Arrival" and e["tx"] in parts]
        assert all(parts[e["tx"]] == me and "parent" in e for e in arrivals)
        assert all("parent" not in e for e in seen if e["type"] != "Arrival")
    text = "\n".join(format_events(trace(), "B1", max_lines=500))
    b1 = next(e for e in splits if e["sender"] == "B1")
    first = b1["children"][0]
    assert (
        f"tx{b1['tx']} split (Split) into 3 parts: tx{first} $10.00, tx{first + 1} $10.00, "
        f"tx{first + 2} $10.01; friction $0.60"
    ) in text
    assert f"part of tx{b1['tx']}, tx{first} to B0, $10.00" in text


def test_a_split_of_many_parts_keeps_a_short_line() -> None:
    split = {
        "tick": 3,
        "type": "Split",
        "tx": 1,
        "sender": "B0",
        "action": "Split",
        "children": list(range(10, 110)),
        "amounts": [1] * 100,
        "friction": 0,
    }
    assert format_events([split], "B0") == [
        "t3  tx1 split (Split) into 100 parts: tx10 $0.01, tx11 $0.01, tx12 $0.01, tx13 $0.01, "
        "… 96 more; friction $0.00"
    ]
    assert format_events([split], "B1") == []


def test_a_limit_block_reads_as_such_when_the_engine_says_so() -> None:
    queued = [{"tick": 2, "type": "QueuedRtgs", "tx": 7, "sender": "B1", "amount": 1_500, "reason": "bilateral_limit"}]
    assert format_events(queued, "B1") == ["t2  tx7 queued centrally, $15.00 (over your limit to that bank)"]
    assert filter_events_for_agent(queued, "B3") == ()
