"""Collateral management in the batch engine: the two collateral trees and the timers.

The rules are the reference's (`runner.engine.reference_collateral`): ``PostCollateral`` posts
its amount truncated to whole cents, at most the room left under the bank's maximum (its
``max_collateral_capacity``, else 10 × its current unsecured cap); ``auto_withdraw_after_ticks``
sets a timer that withdraws as much of it as keeps the allowed overdraft 100 cents above the
credit in use; ``WithdrawCollateral`` withdraws at most what is posted. Each tree decides
every lane of a policy group at once; timers due at a tick run in the order they were set,
one per lane at a time (`rank_steps`).
"""

from __future__ import annotations

import numpy as np

from runner.engine.batch_policy import BaseQuantities
from runner.engine.batch_settlement import rank_steps
from runner.engine.batch_state import BatchState
from runner.engine.rates import BPS_DEN, COMPONENT, mul_div
from runner.engine.reference_collateral import MAX_TIMER_TICKS, TIMER_BUFFER
from runner.engine.rules import allowed_overdraft, collateral_capacity
from runner.errors import SimulationError


def _whole(values: np.ndarray, hi: np.ndarray, what: str, policy: str) -> np.ndarray:
    """`runner.engine.reference.whole_arg` (truncated, clamped to ``[0, hi]``) per lane."""
    if np.isnan(values).any():
        raise SimulationError(f"policy {policy}: {what} is not a number (NaN)")
    out: np.ndarray = np.minimum(np.maximum(np.trunc(values), 0), hi).astype(np.int64)
    return out


def collateral_changed(day: BatchState) -> None:
    """Posted collateral moved: the allowed overdraft and the tick's collateral cost follow."""
    capacity = collateral_capacity(day.posted_collateral, day.haircut)
    day.overdraft_limit = allowed_overdraft(day.unsecured_cap, capacity)
    day.tick_costs[:, COMPONENT["collateral"]] = mul_div(
        day.posted_collateral, day.setup.rates.collateral, BPS_DEN, half_up=True
    )


def max_collateral(day: BatchState, lanes: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.where(
        day.capacity_follows_cap[lanes], 10 * day.unsecured_cap[lanes], day.max_collateral[lanes]
    )
    return out


def collateral_trees(day: BatchState, t: int, tree: str) -> None:
    """Run ``tree`` for every bank that has it and apply its action."""
    changed = False
    for group in day.groups:
        program = group.program
        if not program.has_tree(tree):
            continue
        lanes = np.flatnonzero(np.isin(day.lane_agent, group.agents))
        dec = program.decide_many(tree, BaseQuantities(day, lanes, None, t), lanes.size)
        for i, leaf in enumerate(program.leaves(tree)):
            sel = dec.leaf == i
            if not sel.any() or leaf.action not in ("PostCollateral", "WithdrawCollateral"):
                continue
            hit = lanes[sel]
            posted = day.posted_collateral[hit]
            if leaf.action == "WithdrawCollateral":
                day.posted_collateral[hit] -= _whole(dec.args["amount"][sel], posted, "amount", program.name)
                changed = True
                continue
            room = np.maximum(0, max_collateral(day, hit) - posted)
            amount = _whole(dec.args["amount"][sel], room, "amount", program.name)
            day.posted_collateral[hit] += amount
            changed = True
            if "auto_withdraw_after_ticks" in leaf.args:
                ticks = _whole(
                    dec.args["auto_withdraw_after_ticks"][sel],
                    np.full(hit.size, MAX_TIMER_TICKS),
                    "auto_withdraw_after_ticks",
                    program.name,
                )
                timed = (amount > 0) & (ticks > 0)
                _add_timers(day, t + ticks[timed], hit[timed], amount[timed])
    if changed:
        collateral_changed(day)


def _add_timers(day: BatchState, due: np.ndarray, lanes: np.ndarray, amounts: np.ndarray) -> None:
    day.timer_due = np.concatenate((day.timer_due, due))
    day.timer_lane = np.concatenate((day.timer_lane, lanes))
    day.timer_amount = np.concatenate((day.timer_amount, amounts))


def withdrawable(day: BatchState, lanes: np.ndarray) -> np.ndarray:
    """Collateral a timer may take back: posted minus what keeps the allowed overdraft at
    least 100 cents above the credit in use (all of it at a haircut of 1)."""
    posted = day.posted_collateral[lanes]
    used = np.maximum(0, -day.balance[lanes])
    uncovered = np.maximum(0, used + TIMER_BUFFER - np.minimum(day.unsecured_cap[lanes], used + TIMER_BUFFER))
    keep_share = 1.0 - day.haircut[lanes]
    safe = np.where(keep_share > 0, keep_share, 1.0)
    kept = np.ceil(uncovered / safe).astype(np.int64)
    out: np.ndarray = np.where((uncovered == 0) | (keep_share <= 0), posted, np.maximum(0, posted - kept))
    return out


def run_timers(day: BatchState, t: int) -> None:
    """Withdraw the collateral of every timer due at ``t``, in the order they were set."""
    if day.timer_due.size == 0:
        return
    due = day.timer_due == t
    if not due.any():
        return
    at = np.flatnonzero(due)
    lanes, amounts = day.timer_lane[at], day.timer_amount[at]
    keep = ~due
    day.timer_due, day.timer_lane, day.timer_amount = (
        day.timer_due[keep],
        day.timer_lane[keep],
        day.timer_amount[keep],
    )
    for step in rank_steps(lanes):  # one timer per lane at a time, in the order set
        ln = lanes[step]
        day.posted_collateral[ln] -= np.minimum(amounts[step], withdrawable(day, ln))
    collateral_changed(day)
