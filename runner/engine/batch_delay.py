"""Delay weights for the batch engine's delay cost, with Queue 2's kept between ticks.

The delay cost of a tick is, per lane, the sum over its unsettled payments of ``remaining ×
delay_lut[priority × 2 + overdue]`` (`runner.engine.batch.accrue`). Queue 1 and the dropped
payments are summed afresh each tick. Queue 2 is long on a day short of liquidity (and longer
still when payments are split into parts), and its payments change neither amount nor
priority while they wait, unless priority escalation is on: so its sum is kept
(`Queue2Delay`) and updated as payments join and leave it on the fast path of the RTGS pass
(`runner.engine.batch_settlement.settle_released`), and as they go overdue (``due``). Any
other change to Queue 2 (LSM, the Queue-2 policy pass, the simple path) replaces its array,
which the kept sum notices (it records the array it is for) and is then recomputed in full.

Between two accruals a payment's weight counts it overdue from the previous tick's point of
view (``t − 1 > deadline``): the accrual of tick ``t`` then turns the payments due at ``t``
overdue, whether they joined Queue 2 before or during the tick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.engine.batch_runs import PartsPaid
from runner.engine.batch_state import Q2, BatchState
from runner.engine.lane_sum import lane_sum


@dataclass(eq=False)
class Queue2Delay:
    q2: np.ndarray  # the Queue 2 (array object) the sums are for
    total: np.ndarray  # per lane: the delay weight of its Queue-2 payments


def weights(day: BatchState, rows: np.ndarray, overdue_after: int, amounts: np.ndarray | None = None) -> np.ndarray:
    """Delay weight (× 1000) of each of ``rows`` (of their remaining value, or of
    ``amounts``), overdue when ``overdue_after`` > deadline: `ScaledRates.delay_weight` as a
    table over priorities 0..10 (clipping a priority into 0..10 keeps its band)."""
    priority = day.priority[rows]
    if not day.priority_in_range:
        priority = np.minimum(np.maximum(priority, 0), 10)
    value = day.remaining[rows] if amounts is None else amounts
    out: np.ndarray = value * day.setup.rates.delay_lut[priority * 2 + (overdue_after > day.deadline[rows])]
    return out


def _kept(day: BatchState) -> bool:
    """Whether Queue 2's sum is kept: on the fast path, without priority escalation (which
    raises the priority of waiting payments), and where the RTGS pass is the only step that
    changes the queue (no LSM, no Queue-2 actions, no re-ordering by RTGS priority: each
    would force a recount every tick anyway)."""
    setup = day.setup
    return (
        day.fast
        and setup.escalation_start <= 0
        and not (setup.bilateral_lsm or setup.cycles or setup.priority_mode or day.queue2_actions)
    )


def queue2_tracked(day: BatchState) -> Queue2Delay | None:
    """The kept sum if it is for the current Queue 2 (call before the queue changes; a
    caller that then changes the queue reports it with `queue2_left` and `queue2_joined`)."""
    kept = day.q2_delay
    return kept if kept is not None and kept.q2 is day.q2 else None


def queue2_left(
    day: BatchState, kept: Queue2Delay | None, rows: np.ndarray, t: int, paid: PartsPaid | None = None
) -> None:
    """``rows`` leave Queue 2 during tick ``t``, and so does the value ``paid`` of the runs
    paid in part among them (`runner.engine.batch_runs`): call before the rows' status changes."""
    if kept is None:
        return
    amounts = None
    if paid is not None and (waiting := day.status[paid[0]] == Q2).any():
        amounts = np.concatenate((day.remaining[rows], paid[1][waiting]))
        rows = np.concatenate((rows, paid[0][waiting]))
    if rows.size:
        value = weights(day, rows, t - 1, amounts)
        kept.total -= lane_sum(day.layout.sender_lane[rows], value, day.n_lanes, day.exact)


def queue2_joined(day: BatchState, kept: Queue2Delay | None, rows: np.ndarray, t: int) -> None:
    """``rows`` joined Queue 2 during tick ``t``, whose array is now ``day.q2``."""
    if kept is None:
        return
    if rows.size:
        kept.total += lane_sum(day.layout.sender_lane[rows], weights(day, rows, t - 1), day.n_lanes, day.exact)
    kept.q2 = day.q2


def queue2_weight(day: BatchState, due: np.ndarray, t: int) -> np.ndarray:
    """Per lane, the delay weight of Queue 2 at tick ``t``'s accrual (``due``: the rows whose
    deadline is ``t − 1``)."""
    lanes = day.layout.sender_lane
    kept = queue2_tracked(day)
    if kept is None or not _kept(day):
        total = lane_sum(lanes[day.q2], weights(day, day.q2, t), day.n_lanes, day.exact)
        day.q2_delay = Queue2Delay(day.q2, total) if _kept(day) else None
        return total
    if due.size:
        now = due[day.status[due] == Q2]  # going overdue: from the band before to overdue
        if now.size:
            gone = weights(day, now, t - 1)
            kept.total += lane_sum(lanes[now], weights(day, now, t) - gone, day.n_lanes, day.exact)
    return kept.total
