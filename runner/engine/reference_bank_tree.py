"""The reference engine's bank tree and the release budget it sets (docs/engine.md, "Release
budgets").

Once per bank per tick, before the payment decisions, the bank tree writes the bank's state
registers (``SetState``, ``AddState``) or sets its release budget (``SetReleaseBudget``:
a total, optionally per counterparty and for a few counterparties only). The budget lasts —
with what was released against it — until the tree answers ``NoAction`` or sets a new one;
a bank without a bank tree has none. Each ``Release`` of the payment tree then spends from it
(`may_release`): a payment the budget cannot cover stays in Queue 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.engine.reference_context import bank_base
from runner.engine.reference_payment import Budget
from runner.engine.rules import BUDGET_MAX, PRIORITY_FLAGS, whole_arg

if TYPE_CHECKING:
    from runner.engine.reference import _ReferenceDay
    from runner.engine.reference_payment import Tx


def bank_tree(day: _ReferenceDay, a: int, t: int) -> None:
    """Run bank ``a``'s bank tree. A release budget lasts (with what was released against
    it) until the tree answers ``NoAction`` or sets a new one; ``SetState`` / ``AddState``
    leave it in place (as in SimCash). No bank tree: no budget."""
    program = day.setup.programs[a]
    if not program.has_tree("bank_tree"):
        day.budget[a] = None
        return
    node, args = program.decide_one("bank_tree", bank_base(day, a, t))
    day.emit(t, "BankDecision", agent=day.setup.agent_ids[a], action=node.action, node=node.node_id)
    if node.action == "NoAction":
        day.budget[a] = None
    elif node.action == "SetState":
        day.registers[a][str(args["key"])] = float(args["value"])
    elif node.action == "AddState":
        key = str(args["key"])
        day.registers[a][key] = day.registers[a].get(key, 0.0) + float(args["value"])
    elif node.action == "SetReleaseBudget":
        focus = args.get("focus_counterparties", args.get("focus_cpty_list"))
        per = args.get("max_per_counterparty", args.get("max_per_cpty"))
        name = program.name
        day.budget[a] = Budget(
            left=whole_arg(
                float(args["max_value_to_release"]), 0, BUDGET_MAX, "max_value_to_release", name, floor=True
            ),
            focus=None
            if focus is None
            else tuple(day.setup.agent_ids.index(x) for x in focus if x in day.setup.agent_ids),
            per_cpty=None
            if per is None
            else whole_arg(float(per), 0, BUDGET_MAX, "max_per_counterparty", name, floor=True),
            used={},
        )


def may_release(day: _ReferenceDay, tx: Tx, args: dict[str, Any], t: int) -> bool:
    """A ``Release``: its ``priority_flag`` applies at once (even if the payment stays);
    it leaves Queue 1 unless timed for a later tick or held back by the release budget."""
    flag = args.get("priority_flag")
    if isinstance(flag, str) and flag in PRIORITY_FLAGS:
        tx.priority = PRIORITY_FLAGS[flag]
    timed = args.get("timed_for_tick")
    if timed is not None and timed > t:
        return False
    budget = day.budget[tx.sender]
    if budget is not None:
        used = budget.used.get(tx.receiver, 0)
        if (
            tx.remaining > budget.left
            or (budget.focus is not None and tx.receiver not in budget.focus)
            or (budget.per_cpty is not None and used + tx.remaining > budget.per_cpty)
        ):
            return False
        budget.left -= tx.remaining
        budget.used[tx.receiver] = used + tx.remaining
    return True
