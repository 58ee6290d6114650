"""Split parts and the Queue-2 actions together, worked out by hand (docs/engine.md,
"Payment splitting" and "Queue-2 actions") and checked against SimCash's engine.

A (no money) owes B 1 001, deadline tick 3; the day has ticks 0-4. A's policy splits it at
tick 0 into 500 (part 1) and 501 (part 2), both released and queued; at tick 1 (or 2) the
policy acts on part 2 — or on every part — in Queue 2; C gives A money later.
Rates: delay 0.01 per cent per tick (×5 overdue, from tick 4), deadline penalty 100 and
end-of-day penalty 1 000 per unsettled part, friction 7 per extra part.

SimCash's ``WithdrawFromRtgs`` loses the payment (docs/engine.md); ours returns it to the
bank's Queue 1 keeping its declared RTGS priority — exactly what SimCash's
``ResubmitToRtgs{Normal}`` does to a payment declared Normal. So a withdrawal case is checked
twice: equal to our own Resubmit-Normal run, and that run equal to SimCash's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.engine.results import CostTable
from tests.runner.engine.handworked import pay, policy_file, run, scenario, when
from tests.runner.engine.test_handworked_oracle import ORACLE, compare
from tests.runner.engine.test_splitting import action, child_settlements, costs_of, splits

COSTS = {"delay_cost_per_tick_per_cent": 0.01, "deadline_penalty": 100, "eod_penalty": 1000, "split_friction_cost": 7}
SPLIT2 = action("Split", num_splits=2)
STAGGER = action("StaggerSplit", num_splits=2, stagger_first_now=1, stagger_gap_ticks=0, priority_boost_children=0)
WITHDRAW = action("WithdrawFromRtgs")
NORMAL = {**action("ResubmitToRtgs"), "parameters": {"rtgs_priority": {"value": "Normal"}}}
URGENT = {**action("ResubmitToRtgs"), "parameters": {"rtgs_priority": {"value": "HighlyUrgent"}}}


def parts_tree(
    first: dict[str, Any],
    queue2: dict[str, Any],
    *,
    tick: int = 1,
    every_part: bool = False,
    again: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A's payment tree: split the scenario payment with ``first``; in Queue 2 (where
    ``is_in_queue2`` = 1) answer ``queue2`` at ``tick`` for part 2 (501), or for
    ``every_part``, else Hold; in Queue 1 release a part, or answer ``again`` for part 2 at
    tick 2."""

    def leaf(base: dict[str, Any], node_id: str) -> dict[str, Any]:
        return {**base, "node_id": node_id}  # SimCash wants every node id unique

    hold, release = action("Hold"), action("Release")
    on_tick = when("q2tick", "current_tick", tick, leaf(queue2, "q2act"), leaf(hold, "hold1"))
    in_q2 = on_tick if every_part else when("q2part", "amount", 501, on_tick, leaf(hold, "hold2"))
    part = leaf(release, "release1")
    if again is not None:
        part = when(
            "q1tick",
            "current_tick",
            2,
            when("q1part", "amount", 501, leaf(again, "again"), leaf(release, "release2")),
            leaf(release, "release3"),
        )
    return when("inq2", "is_in_queue2", 1, in_q2, when("parent", "is_split", 0, first, part))


def day(tmp_path: Path, tree: dict[str, Any], gift: int, gift_tick: int, **top: Any) -> dict[str, Any]:
    transfer = {
        "type": "DirectTransfer",
        "from_agent": "C",
        "to_agent": "A",
        "amount": gift,
        "schedule": {"type": "OneTime", "tick": gift_tick},
    }
    return scenario(
        {"A": 0, "B": 0, "C": 2_000},
        [pay("A", "B", 1_001, deadline=3), transfer],
        ticks=5,
        costs=COSTS,
        agents={"A": {"policy": policy_file(tmp_path, "parts", tree)}},
        lsm_config={"enable_bilateral": False, "enable_cycles": False},
        **top,
    )


def a_costs(table: CostTable) -> tuple[int, int, int, int, int]:
    c = costs_of(table)
    return c["delay"], c["split_friction"], c["deadline_penalty"], c["eod_penalty"], int(table.totals()[0, 0])


def queue2_decisions(events: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [(e["tick"], e["tx"], e["action"]) for e in events if e["type"] == "PolicyDecision" and e.get("queue") == 2]


oracle_present = pytest.mark.skipif(
    not ORACLE.exists(), reason="../shared/oracle is absent (only paylab's CI has SimCash's engine)"
)


def test_withdrawn_part_is_released_again(tmp_path: Path) -> None:
    """Tick 1: part 2 withdrawn to Queue 1. Tick 2: C gives A 501 and the policy releases
    part 2 again: it settles in the RTGS step, before the Queue-2 pass reaches part 1 (which
    would have taken the 501 first had part 2 stayed behind it). Part 1 (500) never settles.
    A: delay 10 + 10 (1 001 queued) + 5 + 5 (500) + 25 (overdue) = 55; friction 7; part 1's
    deadline penalty 100 and end-of-day penalty 1 000: 1 162."""
    table, events = run(day(tmp_path, parts_tree(SPLIT2, WITHDRAW), gift=501, gift_tick=2))
    assert queue2_decisions(events) == [(1, 2, "WithdrawFromRtgs")]
    assert child_settlements(events) == [(2, 2, 501)]
    assert a_costs(table) == (55, 7, 100, 1000, 1162)
    assert [int(x) for x in table.settle_tick] == [-1]
    same, _ = run(day(tmp_path, parts_tree(SPLIT2, NORMAL), gift=501, gift_tick=2))
    assert (same.costs == table.costs).all() and (same.settle_tick == table.settle_tick).all()


def test_withdrawn_part_split_again(tmp_path: Path) -> None:
    """Part 2 withdrawn at tick 1 is split again at tick 2 into 167 × 3 (ids 3, 4, 5), all
    released; C's 334 settles two of them in the RTGS step; 167 and part 1 wait. A: delay
    10 + 10 + 7 + 7 (667 queued) + 33 (overdue) = 67; friction 7 + 14 = 21; two unsettled
    parts: deadline penalties 200, end-of-day 2 000: 2 288."""
    split3 = action("Split", num_splits=3)
    table, events = run(day(tmp_path, parts_tree(SPLIT2, WITHDRAW, again=split3), gift=334, gift_tick=2))
    assert [(e["tick"], e["tx"], e["amounts"]) for e in splits(events)] == [(0, 0, [500, 501]), (2, 2, [167] * 3)]
    assert child_settlements(events) == [(2, 3, 167), (2, 4, 167)]
    assert a_costs(table) == (67, 21, 200, 2000, 2288)
    same, _ = run(day(tmp_path, parts_tree(SPLIT2, NORMAL, again=split3), gift=334, gift_tick=2))
    assert (same.costs == table.costs).all()


@pytest.mark.parametrize(("priority_mode", "settles"), [(True, (3, 2, 501)), (False, (3, 1, 500))])
def test_part_resubmitted_highly_urgent(tmp_path: Path, priority_mode: bool, settles: tuple[int, int, int]) -> None:
    """Tick 1: part 2 resubmitted HighlyUrgent (back to Queue 1); tick 2: released again,
    queued behind part 1. Tick 3: C gives A 501; with priority_mode the Queue-2 pass takes
    part 2 first, without it part 1 (FIFO). A: delay 10 × 3 + 5 + 25 = 60, friction 7, one
    unsettled part 100 + 1 000: 1 167 either way."""
    table, events = run(day(tmp_path, parts_tree(SPLIT2, URGENT), gift=501, gift_tick=3, priority_mode=priority_mode))
    assert child_settlements(events) == [settles]
    assert a_costs(table) == (60, 7, 100, 1000, 1167)


def test_parts_of_a_resubmitted_part_inherit_its_rtgs_priority(tmp_path: Path) -> None:
    """priority_mode. Part 2, resubmitted HighlyUrgent at tick 1, is split again at tick 2
    into 167 × 3, queued behind part 1; the parts declare HighlyUrgent as their parent did
    (SimCash alike), so at tick 3 the Queue-2 pass settles all three with C's 501 before
    part 1 (which, first in a FIFO order, would have taken 500 of it). A: delay 10 × 3 + 5 +
    25 = 60, friction 7 + 14 = 21, part 1 unsettled 100 + 1 000: 1 181."""
    split3 = action("Split", num_splits=3)
    table, events = run(
        day(tmp_path, parts_tree(SPLIT2, URGENT, again=split3), gift=501, gift_tick=3, priority_mode=True)
    )
    assert child_settlements(events) == [(3, 3, 167), (3, 4, 167), (3, 5, 167)]
    assert a_costs(table) == (60, 21, 100, 1000, 1181)


def test_a_staggered_part_released_at_once_reads_not_in_queue2(tmp_path: Path) -> None:
    """StaggerSplit{2, first now 1}: part 1 (500) is released at tick 0 without being
    submitted, part 2 (501) waits in Queue 1 and is released (submitted) at tick 1. At tick 2
    both wait in Queue 2 and the policy resubmits what reads ``is_in_queue2`` = 1: part 2
    only — part 1 reads 0 (SimCash: no RTGS priority) and takes the Queue-1 branch, which does
    nothing there. Tick 3: part 2 is released again and C's 501 settles it in the RTGS step
    (had part 1 been resubmitted too, it would have been released first and taken the 501).
    A: 60 + 7 + 100 + 1 000 = 1 167."""
    table, events = run(day(tmp_path, parts_tree(STAGGER, URGENT, tick=2, every_part=True), gift=501, gift_tick=3))
    assert queue2_decisions(events) == [(2, 2, "ResubmitToRtgs")]
    assert child_settlements(events) == [(3, 2, 501)]
    assert a_costs(table) == (60, 7, 100, 1000, 1167)


CASES = {
    "withdrawn part released again (as Resubmit Normal)": lambda tmp: day(
        tmp, parts_tree(SPLIT2, NORMAL), gift=501, gift_tick=2
    ),
    "withdrawn part split again (as Resubmit Normal)": lambda tmp: day(
        tmp, parts_tree(SPLIT2, NORMAL, again=action("Split", num_splits=3)), gift=334, gift_tick=2
    ),
    "part resubmitted, priority_mode": lambda tmp: day(
        tmp, parts_tree(SPLIT2, URGENT), gift=501, gift_tick=3, priority_mode=True
    ),
    "resubmitted part split again, priority_mode": lambda tmp: day(
        tmp, parts_tree(SPLIT2, URGENT, again=action("Split", num_splits=3)), gift=501, gift_tick=3, priority_mode=True
    ),
    "part resubmitted, FIFO": lambda tmp: day(tmp, parts_tree(SPLIT2, URGENT), gift=501, gift_tick=3),
    "staggered part not in queue 2": lambda tmp: day(
        tmp, parts_tree(STAGGER, URGENT, tick=2, every_part=True), gift=501, gift_tick=3
    ),
    "staggered part not in queue 2, priority_mode": lambda tmp: day(
        tmp, parts_tree(STAGGER, URGENT, tick=2, every_part=True), gift=501, gift_tick=3, priority_mode=True
    ),
}


@oracle_present
@pytest.mark.parametrize("name", sorted(CASES))
def test_split_queue2_cases_agree_with_simcash(name: str, tmp_path: Path) -> None:
    ours, theirs = compare(CASES[name](tmp_path), tmp_path)
    assert ours == theirs
