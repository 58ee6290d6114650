"""The reference engine's payment-tree pass over Queue 2 (docs/engine.md, "Queue 2")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.engine.reference_context import bank_base, payment_base
from runner.engine.rules import QUEUE2_ACTIONS, Status, rtgs_priority

if TYPE_CHECKING:
    from runner.engine.reference import _ReferenceDay


def queue2_policy_pass(day: _ReferenceDay, t: int) -> None:
    """The payment tree over each bank's Queue-2 payments. Every bank is judged against the
    state at the start of the pass (as in SimCash: one bank's withdrawals do not change what
    the next bank reads, e.g. ``queue2_size``); then the answers apply, banks in id order.
    Only two actions act there: ``WithdrawFromRtgs`` takes the payment back to the bank's
    Queue 1; ``ResubmitToRtgs{rtgs_priority}`` does the same and declares its RTGS priority
    for its next release. Both are decided again next tick."""
    decided = []
    for a in range(day.setup.n_agents):
        program = day.setup.programs[a]
        mine = [tx for tx in day.q2 if tx.sender == a]
        if not mine or not program.actions("payment_tree") & QUEUE2_ACTIONS:
            continue  # no other action acts on Queue 2: nothing can change
        bank = bank_base(day, a, t)
        decisions = [program.decide_one("payment_tree", payment_base(day, bank, tx, in_q2=True)) for tx in mine]
        decided.append((a, mine, decisions))
    for a, mine, decisions in decided:
        for tx, (node, args) in zip(mine, decisions, strict=True):
            if node.action not in QUEUE2_ACTIONS:
                continue
            if node.action == "ResubmitToRtgs":
                tx.rtgs_priority = rtgs_priority(args)
            day.q2.remove(tx)
            tx.status, tx.submitted = Status.Q1, -1  # submitted again when released
            day.q1[a].append(tx)
            day.emit(
                t,
                "PolicyDecision",
                agent=day.setup.agent_ids[a],
                tx=tx.id,
                action=node.action,
                node=node.node_id,
                queue=2,
            )
