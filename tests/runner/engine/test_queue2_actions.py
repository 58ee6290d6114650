"""WithdrawFromRtgs / ResubmitToRtgs and ``priority_mode``, worked out by hand
(docs/engine.md, "Queue-2 actions").

A owes B two payments of 100, released at tick 0 with no money: P1 (deadline tick 7), then
P2 (deadline tick 3); both wait in Queue 2. At tick 1 P2 has 2 ticks left and A's policy acts
on it in Queue 2; at tick 3 C sends A 100, enough for one payment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runner.engine.handworked import leaf, pay, policy_file, scenario, settle_ticks, when


def policy(queue2_action: dict[str, Any]) -> dict[str, Any]:
    """Release from Queue 1; in Queue 2, ``queue2_action`` when 2 ticks are left, else Hold."""
    hold = {"type": "action", "node_id": "hold", "action": "Hold"}
    return {
        "version": "1.0",
        "policy_id": "queue2_actions",
        "payment_tree": {
            "type": "condition",
            "node_id": "in_q2",
            "condition": {"op": "==", "left": {"field": "is_in_queue2"}, "right": {"value": 1}},
            "on_true": {
                "type": "condition",
                "node_id": "two_left",
                "condition": {"op": "==", "left": {"field": "ticks_to_deadline"}, "right": {"value": 2}},
                "on_true": {"node_id": "act", "type": "action", **queue2_action},
                "on_false": hold,
            },
            "on_false": {"type": "action", "node_id": "release", "action": "Release"},
        },
    }


RESUBMIT = {"action": "ResubmitToRtgs", "parameters": {"rtgs_priority": {"value": "HighlyUrgent"}}}
WITHDRAW = {"action": "WithdrawFromRtgs"}


def day(tmp_path: Path, queue2_action: dict[str, Any], **top: Any) -> dict[str, Any]:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(policy(queue2_action)))
    gift = {
        "type": "DirectTransfer",
        "from_agent": "C",
        "to_agent": "A",
        "amount": 100,
        "schedule": {"type": "OneTime", "tick": 3},
    }
    return scenario(
        {"A": 0, "B": 0, "C": 100},
        [pay("A", "B", 100, deadline=50), pay("A", "B", 100, deadline=3), gift],
        ticks=8,
        agents={"A": {"policy": {"type": "FromJson", "json_path": str(path)}}},
        lsm_config={"enable_cycles": False},
        **top,
    )


@pytest.mark.parametrize(("priority_mode", "expected"), [(True, [-1, 3]), (False, [3, -1])])
def test_resubmitted_payment_goes_first_with_priority_mode(
    tmp_path: Path, priority_mode: bool, expected: list[int]
) -> None:
    """Tick 1: P2 is resubmitted as HighlyUrgent: back to Queue 1. Tick 2: released again,
    it joins Queue 2 behind P1. Tick 3: with priority_mode the Queue-2 pass takes P2 first
    (HighlyUrgent before Normal) and the 100 settles it; without, P1 (FIFO)."""
    assert settle_ticks(day(tmp_path, RESUBMIT, priority_mode=priority_mode)) == expected


def test_withdrawn_payment_returns_to_the_bank_queue(tmp_path: Path) -> None:
    """Withdrawn at tick 1, P2 is decided again at tick 2 (released, Normal) and queues behind
    P1, so even with priority_mode P1 settles at tick 3. (SimCash would lose P2: it leaves
    Queue 2 for no queue at all.)"""
    assert settle_ticks(day(tmp_path, WITHDRAW, priority_mode=True)) == [3, -1]


def test_queue2_actions_do_nothing_to_queue1_payments(tmp_path: Path) -> None:
    """A policy answering WithdrawFromRtgs / ResubmitToRtgs in Queue 1 holds the payment."""
    path = tmp_path / "hold.json"
    path.write_text(
        json.dumps(
            {
                "version": "1.0",
                "policy_id": "withdraw",
                "payment_tree": {"type": "action", "node_id": "w", "action": "WithdrawFromRtgs"},
            }
        )
    )
    raw = scenario(
        {"A": 100, "B": 0},
        [pay("A", "B", 100)],
        agents={"A": {"policy": {"type": "FromJson", "json_path": str(path)}}},
        lsm_config={"enable_cycles": False},
    )
    assert settle_ticks(raw) == [-1]


def queue2_size_day(tmp_path: Path) -> dict[str, Any]:
    """A→B, B→C, C→A, 100 each, no money: all queue at tick 0. Each bank's policy
    resubmits (Normal) a Queue-2 payment while ``queue2_size`` > 2. D gives C 100 at tick 2."""
    crowded = when(
        "crowded", "queue2_size", 2, leaf("act", "ResubmitToRtgs", rtgs_priority="Normal"), leaf("hold", "Hold"), op=">"
    )
    tree = when("in_q2", "is_in_queue2", 1, crowded, leaf("release", "Release"))
    policy = {"policy": policy_file(tmp_path, "queue2_size", tree)}
    gift = {"type": "DirectTransfer", "from_agent": "D", "to_agent": "C", "amount": 100}
    return scenario(
        {"A": 0, "B": 0, "C": 0, "D": 100},
        [
            pay("A", "B", 100),
            pay("B", "C", 100),
            pay("C", "A", 100),
            {**gift, "schedule": {"type": "OneTime", "tick": 2}},
        ],
        agents=dict.fromkeys("ABC", policy),
        lsm_config={"enable_bilateral": False, "enable_cycles": False},
    )


def test_every_bank_reads_queue2_as_the_pass_found_it(tmp_path: Path) -> None:
    """Tick 1: all three banks read queue2_size = 3 — A's resubmission does not change what
    B and C read (SimCash alike) — so all three payments return to Queue 1 and are released
    again at tick 2, where C's settles in the RTGS step with D's 100 and the Queue-2 pass
    then settles A's and B's. (Had B and C read 2 and held, B's payment would have been
    passed over at tick 2 and never settled.)"""
    assert settle_ticks(queue2_size_day(tmp_path)) == [2, 2, 2]


def withdrawal_order_day(tmp_path: Path) -> dict[str, Any]:
    """priority_mode and deferred crediting. P1 (deadline 50) and P2 (deadline 3) queue at
    tick 0; tick 1 P2 is resubmitted HighlyUrgent, tick 2 released again and queued; tick 3
    A's policy resubmits (Normal) everything in Queue 2; tick 4 both are released again in
    their new Queue-1 order and C gives A 100, enough for the first."""
    urgent = when(
        "p2",
        "ticks_to_deadline",
        2,
        leaf("urgent", "ResubmitToRtgs", rtgs_priority="HighlyUrgent"),
        leaf("hold1", "Hold"),
    )
    normal = when(
        "tick3", "current_tick", 3, leaf("normal", "ResubmitToRtgs", rtgs_priority="Normal"), leaf("hold", "Hold")
    )
    tree = when(
        "in_q2", "is_in_queue2", 1, when("tick1", "current_tick", 1, urgent, normal), leaf("release", "Release")
    )
    gift = {"type": "DirectTransfer", "from_agent": "C", "to_agent": "A", "amount": 100}
    return scenario(
        {"A": 0, "B": 0, "C": 100},
        [
            pay("A", "B", 100, deadline=50),
            pay("A", "B", 100, deadline=3),
            {**gift, "schedule": {"type": "OneTime", "tick": 4}},
        ],
        ticks=6,
        agents={"A": {"policy": policy_file(tmp_path, "order", tree)}},
        lsm_config={"enable_bilateral": False, "enable_cycles": False},
        priority_mode=True,
        deferred_crediting=True,
    )


def test_payments_leave_queue2_in_its_priority_order(tmp_path: Path) -> None:
    """At tick 2 Queue 2 is ordered P2 (HighlyUrgent) then P1 (Normal), so at tick 3 they
    return to Queue 1 in that order and at tick 4 P2 is released first and takes the 100."""
    assert settle_ticks(withdrawal_order_day(tmp_path)) == [-1, 4]
