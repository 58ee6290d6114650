"""Payment splitting worked out by hand (docs/engine.md, "Payment splitting").

Every figure was also checked against SimCash's engine (`../shared/oracle/run_oracle.sh` on
the same scenario, ``eod_penalty_scope`` irrelevant here: every unsettled child is overdue at
the end of the day), except where a test says it shows one of our decisions.
Rates: delay 0.01 per cent per tick (×5 when overdue), deadline penalty 100, end-of-day
penalty 1 000, friction 7 per extra child.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.engine.batch import evaluate_batch
from runner.engine.rates import COMPONENT
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.errors import SimulationError
from runner.scenario.loader import scenario_from_dict
from tests.runner.engine.handworked import pay, run, scenario

COSTS = {"delay_cost_per_tick_per_cent": 0.01, "deadline_penalty": 100, "eod_penalty": 1000, "split_friction_cost": 7}


def action(name: str, **args: float) -> dict[str, Any]:
    return {
        "type": "action",
        "node_id": name.lower(),
        "action": name,
        "parameters": {k: {"value": v} for k, v in args.items()},
    }


def first_time(split: dict[str, Any]) -> dict[str, Any]:
    """A policy: ``split`` a scenario payment, release a split child."""
    return {
        "version": "1.0",
        "policy_id": "p",
        "payment_tree": {
            "type": "condition",
            "node_id": "child",
            "condition": {"op": "==", "left": {"field": "is_split"}, "right": {"value": 1}},
            "on_true": action("Release"),
            "on_false": split,
        },
    }


def from_amount(least: int, split: dict[str, Any]) -> dict[str, Any]:
    """A policy: ``split`` a payment of at least ``least`` cents, release the others."""
    return {
        "version": "1.0",
        "policy_id": "p",
        "payment_tree": {
            "type": "condition",
            "node_id": "big",
            "condition": {"op": ">=", "left": {"field": "amount"}, "right": {"value": least}},
            "on_true": split,
            "on_false": action("Release"),
        },
    }


def day(
    tmp_path: Path,
    policy: dict[str, Any],
    amount: int = 1001,
    balance: int = 700,
    extra: list[dict[str, Any]] | None = None,
    deadline: int = 1,
    **kw: Any,
) -> dict[str, Any]:
    path = tmp_path / "b0.json"
    path.write_text(json.dumps(policy))
    return scenario(
        {"B0": balance, "B1": 0, "B2": 400},
        [pay("B0", "B1", amount, deadline=deadline, priority=4), *(extra or [])],
        ticks=4,
        costs={**COSTS, **kw.pop("costs", {})},
        agents={"B0": {"policy": {"type": "FromJson", "json_path": str(path)}}},
        lsm_config={"enable_bilateral": False, "enable_cycles": False},
        **kw,
    )


def costs_of(table: Any, bank: int = 0) -> dict[str, int]:
    return {name: int(table.costs[0, :, bank, i].sum()) for name, i in COMPONENT.items()}


def charges(table: Any) -> tuple[int, int, int, int]:
    """B0's friction, delay, deadline penalties and end-of-day penalties."""
    costs = costs_of(table)
    return costs["split_friction"], costs["delay"], costs["deadline_penalty"], costs["eod_penalty"]


def splits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "Split"]


def child_settlements(events: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """(tick, child id, amount) of every settlement of a child (ids after the schedule's)."""
    return [
        (e["tick"], e["tx"], e["amount"])
        for e in events
        if e["type"] == "Settlement" and e["tx"] is not None and e["tx"] >= 1
    ]


# With deferred crediting the batch engine keeps a Split's parts as one run
# (`runner.engine.batch_runs`); `run` compares it with the reference either way.
CREDITING = pytest.mark.parametrize("deferred", [False, True], ids=["immediate", "deferred (runs)"])


@CREDITING
@pytest.mark.parametrize("name", ["Split", "PaceAndRelease"])
def test_split_three_ways_remainder_on_the_last_child(tmp_path: Path, name: str, deferred: bool) -> None:
    """1 001 in 3 parts: 333, 333, 335 (ids 1, 2, 3), all released at tick 0. B0 has 700:
    the two 333s settle (34 left), 335 waits in Queue 2 for ever.
    Costs of B0: friction 7 × 2 = 14; delay on 335: ticks 0, 1 at 3.35 → 3 each, ticks 2, 3
    overdue 16.75 → 17 each = 40; the 335 child goes overdue at tick 2: 100; end of day
    1 000. Total 1 154 (SimCash: the same, per cost). The scenario payment is unsettled."""
    table, events = run(day(tmp_path, first_time(action(name, num_splits=3)), deferred_crediting=deferred))
    (event,) = splits(events)
    assert (event["children"], event["amounts"], event["friction"]) == ([1, 2, 3], [333, 333, 335], 14)
    assert child_settlements(events) == [(0, 1, 333), (0, 2, 333)]
    assert charges(table) == (14, 40, 100, 1000)
    assert int(table.totals()[0, 0]) == 1154
    assert int(table.final_balance[0, 0]) == 34
    assert [int(x) for x in table.settle_tick] == [-1]
    assert (int(table.arrived_count.sum()), int(table.settled_count.sum())) == (1, 0)


@CREDITING
def test_parent_settles_with_its_last_child(tmp_path: Path, deferred: bool) -> None:
    """As above, and B2 sends B0 400 at tick 1: the Queue-2 pass settles the 335 child at
    tick 1, so the scenario payment counts as settled at tick 1 (delay 1 tick), its full
    value settled. B0: friction 14 + delay 3 (tick 0) = 17."""
    gift = {
        "type": "DirectTransfer",
        "from_agent": "B2",
        "to_agent": "B0",
        "amount": 400,
        "schedule": {"type": "OneTime", "tick": 1},
    }
    raw = day(tmp_path, first_time(action("Split", num_splits=3)), extra=[gift], deferred_crediting=deferred)
    table, events = run(raw)
    assert child_settlements(events) == [(0, 1, 333), (0, 2, 333), (1, 3, 335)]
    assert int(table.totals()[0, 0]) == 17
    assert [int(x) for x in table.settle_tick[:1]] == [1]
    assert int(table.settled_count[0, 0, 0]) == 1
    assert int(table.settled_value[0, 0, 0]) == 1001
    assert int(table.delay_ticks[0, 0, 0]) == 1


@CREDITING
def test_parts_left_pay_penalties_each_and_a_later_payment_settles(tmp_path: Path, deferred: bool) -> None:
    """B0 (400) splits what is 500 or more in 3 and releases the rest whole: at tick 0 its
    1 001 (333, 333, 335) and then 30 to B2. One 333 settles (67 left), the second does
    not fit and neither can the 335 after it; the 30 settles (37 left). The two parts left
    (668) wait in Queue 2 for ever, each its own payment for the penalties.
    B0: friction 14; delay on 668: ticks 0, 1 at 6.68 → 7 each, ticks 2, 3 overdue 33.4 → 33
    each = 80; two parts overdue at tick 2: 2 × 100; end of day 2 × 1 000. Total 2 294 (SimCash:
    the same, per cost, with either crediting)."""
    policy = from_amount(500, action("Split", num_splits=3))
    table, events = run(
        day(tmp_path, policy, balance=400, extra=[pay("B0", "B2", 30, deadline=1)], deferred_crediting=deferred)
    )
    assert child_settlements(events) == [(0, 2, 333), (0, 1, 30)]
    assert charges(table) == (14, 80, 200, 2000)
    assert int(table.totals()[0, 0]) == 2294
    assert int(table.final_balance[0, 0]) == 37
    assert [int(x) for x in table.settle_tick] == [-1, 0]


def test_stagger_split_releases_the_first_and_queues_the_rest(tmp_path: Path) -> None:
    """1 000 in 4 parts of 250, priority 4 + boost 4 = 8 (urgent band, delay ×2). The first
    child is released at tick 0 and settles; three go to the end of Queue 1 and are released
    at tick 1 (is_split = 1), where B0's 750 covers them. ``stagger_gap_ticks`` has no effect.
    B0: friction 7 × 3 = 21; delay at tick 0: 750 × 0.01 × 2 = 15; nothing after."""
    stagger = action("StaggerSplit", num_splits=4, stagger_first_now=1, stagger_gap_ticks=3, priority_boost_children=4)
    raw = day(
        tmp_path,
        first_time(stagger),
        amount=1000,
        balance=1000,
        costs={"priority_delay_multipliers": {"urgent_multiplier": 2.0}},
    )
    table, events = run(raw)
    (event,) = splits(events)
    assert event["amounts"] == [250] * 4
    assert [e["priority"] for e in events if e["type"] == "Arrival" and "parent" in e] == [8] * 4
    assert child_settlements(events) == [(0, 1, 250), (1, 2, 250), (1, 3, 250), (1, 4, 250)]
    costs = costs_of(table)
    assert (costs["split_friction"], costs["delay"]) == (21, 15)
    assert [int(x) for x in table.settle_tick[:1]] == [1]


@pytest.mark.parametrize(
    ("num_splits", "amounts", "friction"),
    [
        (1.9, None, 0),  # fewer than two parts: released whole, no friction (SimCash: run error)
        (-3, None, 0),
        (5, [1, 1, 1], 14),  # at most one part per cent (SimCash: run error on a 0-cent child)
        (2.99, [1, 2], 7),  # truncated
    ],
)
def test_parts_are_truncated_and_bounded(
    tmp_path: Path, num_splits: float, amounts: list[int] | None, friction: int
) -> None:
    """Our decisions where SimCash stops the whole run: the payment of 3 cents settles at
    tick 0 either way."""
    table, events = run(day(tmp_path, first_time(action("Split", num_splits=num_splits)), amount=3))
    assert [e["amounts"] for e in splits(events)] == ([] if amounts is None else [amounts])
    assert costs_of(table)["split_friction"] == friction
    assert [int(x) for x in table.settle_tick[:1]] == [0]


def test_parts_capped_at_one_hundred(tmp_path: Path) -> None:
    table, events = run(day(tmp_path, first_time(action("Split", num_splits=1e9)), amount=10_000, balance=10_000))
    (event,) = splits(events)
    assert event["amounts"] == [100] * 100
    assert costs_of(table)["split_friction"] == 7 * 99


def test_mock_splitting_splits_staggered_children_again(tmp_path: Path) -> None:
    """MockSplitting{num_splits: 2} on 1 001 with 700: 500 + 501, both settle at tick 0
    (friction 7). As a named policy it needs no file."""
    raw = day(tmp_path, first_time(action("Hold")))
    raw["agents"][0]["policy"] = {"type": "MockSplitting", "num_splits": 2}
    table, events = run(raw)
    assert [e["amounts"] for e in splits(events)] == [[500, 501]]
    assert child_settlements(events) == [(0, 1, 500)]
    assert costs_of(table)["split_friction"] == 7


def test_liquidity_splitting_named_policy(tmp_path: Path) -> None:
    """LiquiditySplitting (max_splits 4): 1 001 > balance 700 > 0 and deadline 1 tick away
    (urgent): 4 parts 250, 250, 250, 251, all released; two settle at tick 0 (200 left),
    the others wait in Queue 2 (where the tree's Drop of overdue payments does not act).
    Friction 7 × 3 = 21."""
    raw = day(tmp_path, first_time(action("Hold")))
    raw["agents"][0]["policy"] = {"type": "LiquiditySplitting", "max_splits": 4, "min_split_amount": 100}
    table, events = run(raw)
    assert [e["amounts"] for e in splits(events)] == [[250, 250, 250, 251]]
    assert child_settlements(events) == [(0, 1, 250), (0, 2, 250)]
    assert costs_of(table)["split_friction"] == 21


def test_both_engines_run_splitting(tmp_path: Path) -> None:
    """Splitting needs nothing only the reference has: every case above is also a batch
    parity case (`handworked.run` compares the batch engine, fast and simple)."""
    sc = scenario_from_dict(day(tmp_path, first_time(action("Split", num_splits=2))))
    assert not build_setup(sc, engine="reference").batch_missing


def test_too_many_parts_in_all_is_a_run_error(tmp_path: Path) -> None:
    """A policy that always staggers every part into 10, releasing none: 10 parts at tick 0,
    100 more at tick 1, 1 000 more at tick 2 — 1 110 parts of one payment in all, over the
    1 000 bound: the run stops in both engines (the bound counts every tick's parts)."""
    always = action("StaggerSplit", num_splits=10, stagger_first_now=0)
    raw = day(tmp_path, {"version": "1.0", "policy_id": "p", "payment_tree": always}, amount=10**6, balance=0)
    raw["simulation"]["ticks_per_day"] = 3  # ticks 0, 1, 2
    with pytest.raises(SimulationError, match="more than 1000 parts"):
        run(raw)
    sc = scenario_from_dict(raw)
    setup = build_setup(sc)
    for fast in (True, False):
        with pytest.raises(SimulationError, match="more than 1000 parts"):
            evaluate_batch(setup, [generate_schedule(sc.config, 1, setup.horizon)], fast=fast)
    raw["simulation"]["ticks_per_day"] = 2  # 110 parts: runs
    run(raw)


@pytest.mark.parametrize(("second", "stops"), [(99, False), (100, True)])
def test_parts_in_all_bound_is_inclusive(tmp_path: Path, second: int, stops: bool) -> None:
    """Tick 0 staggers the payment into 10 parts, releasing none; tick 1 staggers each part
    into ``second``: 10 + 10 × 99 = 1 000 parts in all runs (the bound is inclusive), 10 + 10 ×
    100 = 1 010 stops both engines. The count of the second split starts from the parts
    already made (the batch engine counts only once a part is split)."""
    tree = {
        "type": "condition",
        "node_id": "first",
        "condition": {"op": "==", "left": {"field": "current_tick"}, "right": {"value": 0}},
        "on_true": action("StaggerSplit", num_splits=10, stagger_first_now=0),
        "on_false": {**action("StaggerSplit", num_splits=second, stagger_first_now=0), "node_id": "again"},
    }
    raw = day(tmp_path, {"version": "1.0", "policy_id": "p", "payment_tree": tree}, amount=10**6, balance=0)
    raw["simulation"]["ticks_per_day"] = 2  # ticks 0 and 1
    sc = scenario_from_dict(raw)
    setup = build_setup(sc)
    schedules = [generate_schedule(sc.config, 1, setup.horizon)]
    if stops:
        with pytest.raises(SimulationError, match="more than 1000 parts"):
            run(raw)
        for fast in (True, False):
            with pytest.raises(SimulationError, match="more than 1000 parts"):
                evaluate_batch(setup, schedules, fast=fast)
    else:
        run(raw)  # the reference, and the batch engine (fast and simple) against it
        friction = 7 * ((10 - 1) + 10 * (second - 1))  # per extra child, both splits
        assert costs_of(evaluate_batch(setup, schedules))["split_friction"] == friction


def test_parts_split_again_settle_their_ancestors(tmp_path: Path) -> None:
    """StaggerSplit{2, first now 1} while the amount is ≥ 2, else Release, on 8 with plenty
    of money: tick 0 releases 4 (settles), 4 waits; tick 1: 2 + 2; tick 2: 1 + 1; tick 3 the
    last cent is released whole. The scenario payment settles at tick 3 — only when every
    part of every level has (a part's settlement counts for all its ancestors).
    Friction 3 splits × 7 = 21 (SimCash: the same)."""
    stagger = action("StaggerSplit", num_splits=2, stagger_first_now=1, stagger_gap_ticks=1, priority_boost_children=0)
    policy = from_amount(2, stagger)
    table, events = run(day(tmp_path, policy, amount=8, balance=100, deadline=10))
    assert [e["amounts"] for e in splits(events)] == [[4, 4], [2, 2], [1, 1]]
    assert [(tick, amount) for tick, _, amount in child_settlements(events)] == [(0, 4), (1, 2), (2, 1), (3, 1)]
    assert [int(x) for x in table.settle_tick[:1]] == [3]
    assert int(table.delay_ticks[0, 0, 0]) == 3
    assert costs_of(table)["split_friction"] == 21


@pytest.mark.parametrize(("name", "priority_mode"), [("StaggerSplit", True), ("StaggerSplit", False), ("Split", True)])
def test_parts_a_stagger_releases_at_once_queue_behind_submitted_payments(
    tmp_path: Path, name: str, priority_mode: bool
) -> None:
    """B0 (700) splits its 1 001 in 3 at tick 0, all parts released at once: 333 and 333
    settle, the 335 part waits in Queue 2. At tick 1 B0 releases a 300 payment (it has 34:
    Queue 2 too). At tick 2 B2 pays B0 400: B0 has 434, room for one of the two. With
    ``priority_mode`` Queue 2 is ordered by RTGS submission, and a part a StaggerSplit releases
    at once was never submitted (SimCash gives it no submission tick and queues it behind
    every submitted payment): the 300 settles and the part keeps waiting. A Split's parts are
    submitted at the split, and without ``priority_mode`` Queue 2 is FIFO: there the part
    (queued first) settles. (SimCash: the same settlements in all three cases.)"""
    split = action(
        name,
        num_splits=3,
        **(
            {"stagger_first_now": 3, "stagger_gap_ticks": 0, "priority_boost_children": 0}
            if name == "StaggerSplit"
            else {}
        ),
    )
    policy = {
        "version": "1.0",
        "policy_id": "p",
        "payment_tree": {
            "type": "condition",
            "node_id": "big",
            "condition": {
                "op": "and",
                "conditions": [
                    {"op": "==", "left": {"field": "is_split"}, "right": {"value": 0}},
                    {"op": ">=", "left": {"field": "amount"}, "right": {"value": 1000}},
                ],
            },
            "on_true": split,
            "on_false": action("Release"),
        },
    }
    raw = day(
        tmp_path,
        policy,
        deadline=3,
        extra=[pay("B0", "B2", 300, tick=1, deadline=2), pay("B2", "B0", 400, tick=2, deadline=1)],
        priority_mode=priority_mode,
    )
    _, events = run(raw)
    settled = [(e["tick"], e["amount"]) for e in events if e["type"] == "Settlement" and e["sender"] == "B0"]
    behind = name == "StaggerSplit" and priority_mode
    assert settled == [(0, 333), (0, 333), (2, 300) if behind else (2, 335)]
