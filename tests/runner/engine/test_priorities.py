"""Priorities, worked out by hand: escalation, Queue-1 ordering, and the band multipliers
that escalation changes (docs/engine.md, "Priorities")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.runner.engine.handworked import agent_costs, pay, run, scenario, settle_ticks

# A has money for one of its two 100-cent payments: the first in its queue settles.
TWO = [pay("A", "B", 100, deadline=9, priority=7), pay("A", "B", 100, deadline=2, priority=5)]


def two_payments(**top: Any) -> dict[str, Any]:
    return scenario({"A": 100, "B": 0}, TWO, ticks=12, **top)


def test_fifo_queue_releases_in_arrival_order() -> None:
    assert settle_ticks(two_payments()) == [0, -1]


def test_priority_deadline_ordering_puts_higher_priority_first() -> None:
    assert settle_ticks(two_payments(queue1_ordering="priority_deadline")) == [0, -1]


@pytest.mark.parametrize("spelling", ["start_escalating_at_ticks", "threshold_ticks"])
def test_escalation_reorders_the_queue(spelling: str) -> None:
    """Escalation from 4 ticks before the deadline, boost up to 4: at tick 0 the second
    payment (2 ticks left) gains round(4 × (1 − 2/4)) = 2 → priority 7, tying the first
    (7, 9 ticks left, no boost); the earlier deadline breaks the tie, so it goes first."""
    raw = two_payments(
        queue1_ordering="priority_deadline", priority_escalation={"enabled": True, spelling: 4, "max_boost": 4}
    )
    assert settle_ticks(raw) == [-1, 0]


def test_escalation_without_ordering_changes_no_order() -> None:
    raw = two_payments(priority_escalation={"enabled": True, "start_escalating_at_ticks": 4, "max_boost": 4})
    assert settle_ticks(raw) == [0, -1]


def test_escalation_moves_a_payment_into_the_urgent_band() -> None:
    """A cannot pay 1 000 (priority 5, deadline tick 2). Delay 1 cent a tick × band
    multiplier (normal 1, urgent 2) × 5 once overdue. Escalation (S = 4, boost ≤ 4): tick 0
    r=2 → 7 (normal): 1; tick 1 r=1 → 8 (urgent): 2; tick 2 r=0 → 9: 2; ticks 3, 4 overdue:
    10 each. Total 25 (without escalation: 1+1+1+5+5 = 13)."""
    costs = {"delay_cost_per_tick_per_cent": 0.001, "priority_delay_multipliers": {"urgent_multiplier": 2.0}}
    base = scenario({"A": 0, "B": 0}, [pay("A", "B", 1_000, deadline=2)], ticks=5, costs=costs)
    assert agent_costs(run(base)[0])["A"] == 13
    escalated = {**base, "priority_escalation": {"enabled": True, "start_escalating_at_ticks": 4, "max_boost": 4}}
    assert agent_costs(run(escalated)[0])["A"] == 25


def test_escalation_never_lowers_a_priority() -> None:
    """A priority-9 payment 3 ticks from its deadline would get 9 + round(4 × 0.25) = 10,
    capped at 10; one at 10 stays 10 (the trace's arrival priority is the original)."""
    costs = {
        "delay_cost_per_tick_per_cent": 0.001,
        "priority_delay_multipliers": {"urgent_multiplier": 2.0, "normal_multiplier": 1.0},
    }
    raw = scenario(
        {"A": 0, "B": 0},
        [pay("A", "B", 1_000, deadline=3, priority=10)],
        ticks=4,
        costs=costs,
        priority_escalation={"enabled": True, "start_escalating_at_ticks": 4},
    )
    assert agent_costs(run(raw)[0])["A"] == 2 * 4  # urgent all along, never overdue
