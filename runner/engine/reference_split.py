"""Payment splitting in the reference engine (docs/engine.md, "Payment splitting").

A split turns one Queue-1 payment into children that are payments of their own; the parent
leaves every queue (status ``SPLIT``) and is settled, for the counts, when its last child is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.engine.rates import COMPONENT
from runner.engine.rules import (
    MAX_SPLIT_DESCENDANTS,
    MAX_SPLIT_PARTS,
    RTGS_NORMAL,
    Status,
    split_amounts,
    whole_arg,
)
from runner.errors import SimulationError

if TYPE_CHECKING:
    from runner.engine.reference import _ReferenceDay
    from runner.engine.reference_payment import Tx

# The submission tick of a part a StaggerSplit releases at once: SimCash hands it to RTGS
# without submitting it (no submission tick, no RTGS priority), so with ``priority_mode``
# Queue 2 puts it after every submitted payment, whatever priority it declares (docs/engine.md,
# "Payment splitting"; Split's parts are submitted).
UNSUBMITTED_PART = 2**62


def queue2_rank(rtgs_priority: int, submitted: int) -> tuple[int, int]:
    """A payment's place in a ``priority_mode`` Queue 2: declared RTGS priority, then
    submission tick; an unsubmitted part ranks as Normal, submitted last."""
    return (RTGS_NORMAL if submitted == UNSUBMITTED_PART else rtgs_priority), submitted


def split_payment(
    sim: _ReferenceDay, tx: Tx, action: str, args: dict[str, Any], t: int, policy: str
) -> tuple[list[Tx], list[Tx]]:
    """Apply a split action to ``tx`` (in Queue 1): (children released now, children that
    join the end of Queue 1). Fewer than two parts releases ``tx`` whole."""
    from runner.engine.reference_payment import Tx

    parts = min(whole_arg(float(args["num_splits"]), 0, MAX_SPLIT_PARTS, "num_splits", policy, floor=False), tx.amount)
    if parts < 2:
        return [tx], []
    priority, first_now = tx.priority, parts
    if action == "StaggerSplit":
        boost = whole_arg(
            float(args.get("priority_boost_children", 0)), 0, 10, "priority_boost_children", policy, floor=False
        )
        priority = min(10, tx.priority + boost)
        first_now = whole_arg(
            float(args.get("stagger_first_now", 1)), 0, parts, "stagger_first_now", policy, floor=False
        )
    root = tx
    while root.parent is not None:
        root = root.parent
    sim.parts_of[root.id] = sim.parts_of.get(root.id, 0) + parts
    if sim.parts_of[root.id] > MAX_SPLIT_DESCENDANTS:
        raise SimulationError(
            f"a payment was split into more than {MAX_SPLIT_DESCENDANTS} parts in all (splits of its parts included)"
        )
    children = []
    for amount in split_amounts(tx.amount, parts):
        child = Tx(
            len(sim.txs),
            tx.sender,
            tx.receiver,
            amount,
            tx.arrival,
            tx.deadline,
            priority,
            remaining=amount,
            status=Status.Q1,
            original_priority=priority,
            rtgs_priority=tx.rtgs_priority,  # the declared RTGS priority too (SimCash)
            parent=tx,
        )
        sim.txs.append(child)
        sim.open.append(child)
        children.append(child)
    if action == "StaggerSplit":
        for child in children[:first_now]:
            child.submitted = UNSUBMITTED_PART
    tx.status = Status.SPLIT
    friction = sim.setup.rates.split_friction * (parts - 1)
    sim.costs[t // sim.setup.ticks_per_day, tx.sender, COMPONENT["split_friction"]] += friction
    sim.emit(
        t,
        "Split",
        tx=tx.id,
        sender=sim.setup.agent_ids[tx.sender],
        action=action,
        children=[c.id for c in children],
        amounts=[c.amount for c in children],
        friction=friction,
    )
    for child in children:
        sim.emit_arrival(t, child, parent=tx.id)
    return children[:first_now], children[first_now:]


def settle_ancestors(child: Tx, t: int) -> None:
    """A child settled: its parent (and theirs) is settled once every child is."""
    parent = child.parent
    while parent is not None:  # every ancestor carries the child's value
        parent.remaining -= child.amount
        if parent.remaining == 0:
            parent.settle_tick = t
        parent = parent.parent
