"""The reference engine's collateral management (reference §2.5, §6.7; docs/engine.md,
"Collateral").

Posted collateral secures credit: ``floor(posted × (1 − haircut))`` adds to the bank's allowed
overdraft (`runner.engine.rules`), and costs ``collateral_cost_per_tick_bps`` on the posted
amount every tick. Two policy trees move it, once per bank per tick:

* ``strategic_collateral_tree`` after the arrivals (before the bank tree);
* ``end_of_tick_collateral_tree`` after the LSM (before deferred credits become usable).

``PostCollateral{amount}`` posts ``amount`` truncated to whole cents, at most the capacity
left (``max_collateral_capacity − posted``; SimCash stops the run instead); nothing if that
is ≤ 0. Without an explicit ``max_collateral_capacity`` the capacity is 10 × the bank's
*current* unsecured cap (``CollateralAdjustment`` events move it). With
``auto_withdraw_after_ticks = k > 0`` it also sets a timer to withdraw the same amount at
tick t + k (after the bank trees), as much of it as keeps the allowed overdraft at least 100
cents above the credit in use (SimCash's guard; with a haircut of 1 collateral secures
nothing, so all of it). ``WithdrawCollateral{amount}``
withdraws at most what is posted.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from runner.engine.reference_context import bank_base
from runner.engine.rules import whole_arg

if TYPE_CHECKING:
    from runner.engine.reference import _ReferenceDay

TREES = ("strategic_collateral_tree", "end_of_tick_collateral_tree")
MAX_TIMER_TICKS = 10**9
TIMER_BUFFER = 100  # cents of headroom a timed withdrawal leaves (SimCash)


def collateral_tree(day: _ReferenceDay, a: int, t: int, tree: str) -> None:
    """Run bank ``a``'s collateral ``tree`` once and apply its action."""
    program = day.setup.programs[a]
    if not program.has_tree(tree):
        return
    node, args = program.decide_one(tree, bank_base(day, a, t))
    agent = day.setup.agent_ids[a]
    if node.action == "PostCollateral":
        room = max(0, day.max_collateral(a) - day.posted[a])
        amount = whole_arg(float(args["amount"]), 0, room, "amount", program.name, floor=False)
        if amount <= 0:
            return
        day.posted[a] += amount
        after = args.get("auto_withdraw_after_ticks")
        ticks = (
            0
            if after is None
            else whole_arg(float(after), 0, MAX_TIMER_TICKS, "auto_withdraw_after_ticks", program.name, floor=False)
        )
        if ticks > 0:
            day.timers.append((t + ticks, a, amount))
        day.emit(
            t,
            "CollateralPost",
            agent=agent,
            amount=amount,
            tree=tree,
            posted=day.posted[a],
            withdraw_at=t + ticks if ticks > 0 else None,
        )
    elif node.action == "WithdrawCollateral":
        amount = whole_arg(float(args["amount"]), 0, day.posted[a], "amount", program.name, floor=False)
        if amount > 0:
            day.posted[a] -= amount
            day.emit(t, "CollateralWithdraw", agent=agent, amount=amount, tree=tree, posted=day.posted[a])


def withdrawable(day: _ReferenceDay, a: int) -> int:
    """Collateral a timer may take back: posted minus what keeps the allowed overdraft at
    least 100 cents above the credit in use."""
    used = max(0, -day.balance[a])
    uncovered = max(0, used + TIMER_BUFFER - min(day.cap[a], used + TIMER_BUFFER))
    keep_share = 1.0 - float(day.setup.haircut[a])
    if uncovered == 0 or keep_share <= 0:  # a haircut of 1: collateral secures nothing
        return day.posted[a]
    return max(0, day.posted[a] - math.ceil(uncovered / keep_share))


def run_timers(day: _ReferenceDay, t: int) -> None:
    """Withdraw the collateral of every timer due at ``t``, in the order they were set."""
    due = [timer for timer in day.timers if timer[0] == t]
    if not due:
        return
    day.timers = [timer for timer in day.timers if timer[0] != t]
    for _, a, amount in due:
        taken = min(amount, withdrawable(day, a))
        if taken > 0:
            day.posted[a] -= taken
        day.emit(
            t,
            "CollateralTimerWithdraw",
            agent=day.setup.agent_ids[a],
            amount=taken,
            requested=amount,
            posted=day.posted[a],
        )
