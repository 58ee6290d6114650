"""Bilateral and multilateral limits, worked out by hand: every settlement path checks them
(RTGS, the Queue-2 pass, offsetting, cycles), they count gross values per day and reset at
the end of each day (docs/engine.md, "Limits")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.runner.engine.handworked import pay, run, scenario, settle_ticks

LSM = {"enable_bilateral": True, "enable_cycles": True}


def limited(spelling: str, bilateral: dict[str, int] | None = None, multilateral: int | None = None) -> dict[str, Any]:
    """One bank's limits in one of SimCash's spellings."""
    own: dict[str, Any] = {}
    if bilateral is not None:
        own["bilateral_limits"] = bilateral
    if multilateral is not None:
        own["multilateral_limit"] = multilateral
    return {"limits": own} if spelling == "block" else own


SPELLINGS = ["agent", "block"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_bilateral_limit_queues_the_excess_until_the_next_day(spelling: str) -> None:
    """A (1 000 cents) pays B 100 twice; its limit to B is 150 a day. The first settles at
    tick 0, the second waits in Queue 2 and settles at tick 3, the first tick of day 2."""
    raw = scenario(
        {"A": 1_000, "B": 0},
        [pay("A", "B", 100), pay("A", "B", 100)],
        days=2,
        agents={"A": limited(spelling, bilateral={"B": 150})},
    )
    assert settle_ticks(raw) == [0, 3]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_multilateral_limit_counts_every_counterparty(spelling: str) -> None:
    """A's total limit is 150: its 100 to B settles, its 100 to C never does (one day)."""
    raw = scenario(
        {"A": 1_000, "B": 0, "C": 0},
        [pay("A", "B", 100), pay("A", "C", 100)],
        agents={"A": limited(spelling, multilateral=150)},
    )
    assert settle_ticks(raw) == [0, -1]


def test_limit_exactly_reached_is_allowed() -> None:
    raw = scenario(
        {"A": 1_000, "B": 0},
        [pay("A", "B", 100), pay("A", "B", 50)],
        agents={"A": {"bilateral_limits": {"B": 150}, "multilateral_limit": 150}},
    )
    assert settle_ticks(raw) == [0, 0]


@pytest.mark.parametrize(
    ("limits", "settles"),
    [
        ({"bilateral_limits": {"B": 999}}, False),
        ({"bilateral_limits": {"B": 1_000}}, True),
        ({"multilateral_limit": 999}, False),
        ({"bilateral_limits": {"C": 0}}, True),  # a limit towards a bank outside the ring
    ],
)
def test_a_limit_blocks_a_cycle(limits: dict[str, Any], settles: bool) -> None:
    """The ring A→B→C→A of 1 000 each, nobody with money: only the cycle can settle it, and
    only if A's limits let 1 000 go to B."""
    ring = [pay("A", "B", 1_000), pay("B", "C", 1_000), pay("C", "A", 1_000)]
    raw = scenario({"A": 0, "B": 0, "C": 0}, ring, agents={"A": limits}, lsm_config=LSM)
    assert settle_ticks(raw) == ([0, 0, 0] if settles else [-1, -1, -1])


@pytest.mark.parametrize(("limit", "settles"), [(499, False), (500, True)])
def test_a_limit_blocks_bilateral_offsetting_at_gross_value(limit: int, settles: bool) -> None:
    """A→B 500 and B→A 300 offset to a net 200 that A has; A's limit to B is checked against
    the gross 500, not the net."""
    raw = scenario(
        {"A": 200, "B": 0},
        [pay("A", "B", 500), pay("B", "A", 300)],
        agents={"A": {"bilateral_limits": {"B": limit}}},
        lsm_config=LSM,
    )
    assert settle_ticks(raw) == ([0, 0] if settles else [-1, -1])


def test_lsm_settlements_count_towards_later_payments() -> None:
    """A (200 cents) cannot pay 500 to B gross; offsetting against B's 300 settles both at
    tick 0 and uses 500 of A's 600 limit to B. At tick 1 A receives 1 000 (a direct
    transfer) and owes B 200 more: it has the money, but only 100 of limit left, so the
    payment waits for day 2 (tick 3)."""
    gift = {
        "type": "DirectTransfer",
        "from_agent": "C",
        "to_agent": "A",
        "amount": 1_000,
        "schedule": {"type": "OneTime", "tick": 1},
    }
    raw = scenario(
        {"A": 200, "B": 0, "C": 1_000},
        [pay("A", "B", 500), pay("B", "A", 300), pay("A", "B", 200, tick=1), gift],
        days=2,
        agents={"A": {"bilateral_limits": {"B": 600}}},
        lsm_config=LSM,
    )
    assert settle_ticks(raw) == [0, 0, 3]


@pytest.mark.parametrize(
    ("balance", "limits", "reason"),
    [
        (1_000, {"bilateral_limits": {"B": 150}}, "bilateral_limit"),
        (1_000, {"multilateral_limit": 150}, "multilateral_limit"),
        (150, {"multilateral_limit": 150}, "liquidity"),  # both: short of money first
        (150, {}, "liquidity"),
    ],
)
def test_queued_payment_says_what_blocked_it(balance: int, limits: dict[str, Any], reason: str) -> None:
    """The trace's QueuedRtgs names the reason (the LLM's event lines read it): A's second
    100 is over its limit, or over its money."""
    raw = scenario(
        {"A": balance, "B": 0},
        [pay("A", "B", 100), pay("A", "B", 100)],
        agents={"A": limits},
        lsm_config={"enable_cycles": False},
    )
    _, events = run(raw)
    assert [e["reason"] for e in events if e["type"] == "QueuedRtgs"] == [reason]
