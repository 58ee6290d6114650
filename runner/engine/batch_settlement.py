"""Settlement for the batch engine: "in order, settle if affordable", across many lanes at once.

The rule is sequential. Its simple path (`scan`, always used when `BatchState.fast` is off)
steps through the payments one rank at a time: step k settles the k-th payment of every
sample's sequence, if its sender can pay it (and its limits allow it) — the reference's order
exactly. Three exact shortcuts avoid most of those steps on the fast path:

* **Deferred crediting** (lane = one bank of one sample, no limits): nothing is credited
  during the pass, so a lane's balance only falls and each lane settles its own prefix of
  payments at once, round after round (`runner.engine.batch_rounds`).
* **Immediate crediting** (lane = one sample): incoming payments raise a receiver's balance
  mid-pass, so the order across banks matters and the scan stays rank by rank. But when every
  sender in a sample can pay *all* its payments from its available liquidity at the start,
  every payment settles (balances only grow by inflows), whatever the order: such samples
  settle in one aggregate step (in `scan`).
* **Ruling out** (`may_settle`, whenever the pass steps): a payment over a limit now, or
  above what its sender can have by its turn, cannot settle in the pass; the steps skip it.
  A long queue that is mostly stuck (SimCash's TARGET2 crisis examples) then costs a few
  array operations per pass instead of a step per queued payment.

With limits set (bilateral or multilateral outflow caps), the pass steps (after ruling out):
a payment refused by a limit does not stop the lane, so the prefix argument does not hold.

Per-lane sums use `np.bincount` with float weights only when they are provably exact (every
partial sum below 2**53: a bound the engine computes once per batch, or checked per call),
else `np.add.at` on int64.
"""

from __future__ import annotations

import numpy as np

from runner.engine.batch_delay import queue2_joined, queue2_left, queue2_tracked
from runner.engine.batch_rounds import available, rounds, run_starts
from runner.engine.batch_state import Q2, SETTLED, BatchState
from runner.engine.lane_sum import lane_sum
from runner.engine.limits import NO_LIMIT
from runner.engine.reference_split import UNSUBMITTED_PART
from runner.engine.rules import RTGS_NORMAL


def rank_steps(lanes: np.ndarray, keys: np.ndarray | None = None) -> list[np.ndarray]:
    """Group positions by their rank within their lane.

    Step k holds the k-th entry of every lane that has one (lanes ascending), so processing
    the steps in order replays each lane's sequence while handling all lanes of a step at
    once. Entries are ordered by ``keys`` within a lane, or, without keys, by position (the
    input is then already in sequence order within each lane).
    """
    if lanes.size == 0:
        return []
    order = np.argsort(lanes, kind="stable") if keys is None else np.lexsort((keys, lanes))
    new = run_starts(lanes[order])
    idx = np.arange(order.size)
    rank = idx - np.maximum.accumulate(np.where(new, idx, 0))  # position minus its run's start
    by_rank = order[np.argsort(rank, kind="stable")]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(rank))))
    return [by_rank[bounds[k] : bounds[k + 1]] for k in range(bounds.size - 1)]


# ---------------------------------------------------------------------- the rules
def within_limits(day: BatchState, lanes: np.ndarray, receivers: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """Whether each payment, on its own, fits its sender's bilateral and multilateral limits
    of the day as used so far (all true without limits)."""
    if not day.has_limits:
        return np.ones(lanes.size, dtype=bool)
    bilateral = day.bilateral_limit[lanes, receivers]
    multilateral = day.multilateral_limit[lanes]
    ok: np.ndarray = ((bilateral == NO_LIMIT) | (day.outflow_to[lanes, receivers] + amounts <= bilateral)) & (
        (multilateral == NO_LIMIT) | (day.outflow_total[lanes] + amounts <= multilateral)
    )
    return ok


def record_outflows(day: BatchState, rows: np.ndarray) -> None:
    """Count settled ``rows`` against their senders' limits of the day."""
    if day.has_limits and rows.size:
        np.add.at(day.outflow_to, (day.layout.sender_lane[rows], day.receiver[rows]), day.remaining[rows])
        np.add.at(day.outflow_total, day.layout.sender_lane[rows], day.remaining[rows])


def can_settle(day: BatchState, rows: np.ndarray) -> np.ndarray:
    """The one settlement test: the sender can pay the full remaining amount now and its
    limits allow it (each sender lane at most once in ``rows``)."""
    lanes = day.layout.sender_lane[rows]
    need = day.remaining[rows]
    ok: np.ndarray = need <= available(day, lanes)
    if day.has_limits:
        ok &= within_limits(day, lanes, day.receiver[rows], need)
    return ok


def credit(day: BatchState, lanes: np.ndarray, amounts: np.ndarray) -> None:
    """Credit *distinct* lanes (now, or at the end of the tick with deferred crediting)."""
    if day.deferred:
        day.incoming[lanes] += amounts
    else:
        day.balance[lanes] += amounts


def mark_settled(day: BatchState, rows: np.ndarray, t: int) -> None:
    day.status[rows] = SETTLED
    day.settle_tick[rows] = t
    day.remaining[rows] = 0


def drop_settled_from_q2(day: BatchState) -> None:
    day.q2 = day.q2[day.status[day.q2] == Q2]  # keeps the order


# ---------------------------------------------------------------------- tick entry points
def order_q2(day: BatchState) -> None:
    """With ``priority_mode``: Queue 2 stably sorted by declared RTGS priority, then
    submission tick (within each sample, or each lane when lane-sorted), as before every
    FIFO pass of the reference."""
    if not day.setup.priority_mode or day.q2.size < 2:
        return
    q2 = day.q2
    group = day.layout.sender_lane[q2] if day.lane_sorted_q2 else day.layout.sample[q2]
    submitted, declared = day.submitted[q2], day.rtgs_priority[q2]
    if day.splits:  # an unsubmitted StaggerSplit part ranks as Normal, submitted last
        declared = np.where(submitted == UNSUBMITTED_PART, RTGS_NORMAL, declared)
    day.q2 = q2[np.lexsort((np.arange(q2.size), submitted, declared, group))]


def settle_released(day: BatchState, released: np.ndarray, t: int) -> None:
    """RTGS settlement of ``released`` (each sample's rows in release order, failures join
    Queue 2), then one FIFO pass over Queue 2."""
    if day.setup.priority_mode:  # the submission tick orders Queue 2 (`order_q2`)
        stamp = released[day.submitted[released] != UNSUBMITTED_PART] if day.splits else released
        day.submitted[stamp] = t
    if not day.lane_sorted_q2 or day.has_limits:
        ok = scan(day, released, t)
        failed = released[~ok]
        day.status[failed] = Q2
        set_q2(day, day.q2, failed)
        queue2_pass(day, t)
        return
    # Deferred crediting: a payment that fails at RTGS fails again in the Queue-2 pass
    # (available only falls within the tick), so both passes are one pass per lane over
    # the releases followed by the old Queue 2. Both inputs are sorted by lane, so the
    # stable sort is a linear merge (timsort) that puts each lane's releases first.
    lanes = day.layout.sender_lane
    if day.setup.priority_mode:  # failed releases fail again: only the old queue's order counts
        order_q2(day)
    kept = queue2_tracked(day)  # Queue 2's delay weight (`runner.engine.batch_delay`)
    if day.q2.size == 0:  # the releases alone, already in lane order
        if _all_fit(day, released):
            mark_settled(day, released, t)
            return
        both = released
        ok, paid = rounds(day, released)
    else:
        both = np.concatenate((released, day.q2))
        order = np.argsort(lanes[both], kind="stable")
        ok = np.empty(both.size, dtype=bool)
        ok[order], paid = rounds(day, both[order])
    n = released.size
    queue2_left(day, kept, day.q2[ok[n:]], t, paid)
    mark_settled(day, both[ok], t)
    failed = released[~ok[:n]]
    day.status[failed] = Q2
    set_q2(day, day.q2[~ok[n:]], failed)
    queue2_joined(day, kept, failed, t)
    if day.setup.priority_mode and day.queue2_actions:
        order_q2(day)  # Queue 2 as the reference's sorted pass leaves it: the Queue-2 policy pass reads its order


def set_q2(day: BatchState, old: np.ndarray, new: np.ndarray) -> None:
    """Queue 2 := ``old`` then ``new``. Lane-sorted, a linear merge of two sorted runs;
    otherwise each sample's rows keep their queue order."""
    both = np.concatenate((old, new))
    if day.lane_sorted_q2 and old.size and new.size:
        both = both[np.argsort(day.layout.sender_lane[both], kind="stable")]
    day.q2 = both


def queue2_pass(day: BatchState, t: int, samples: np.ndarray | None = None) -> bool:
    """One FIFO pass over Queue 2 (only over ``samples`` if given, a mask); whether anything
    settled."""
    order_q2(day)
    rows = day.q2 if samples is None else day.q2[samples[day.layout.sample[day.q2]]]
    if rows.size == 0:
        return False
    if day.lane_sorted_q2 and not day.has_limits:  # Queue 2 is sorted by lane, as `rounds` needs
        ok, _ = rounds(day, rows)  # no runs here: `runner.engine.batch_runs.runs_apply`
        if ok.any():
            mark_settled(day, rows[ok], t)
    else:
        ok = scan(day, rows, t)
    if not ok.any():
        return False
    drop_settled_from_q2(day)
    return True


# ---------------------------------------------------------------------- passes
def _all_fit(day: BatchState, seq: np.ndarray) -> bool:
    """Deferred crediting: if every lane can pay all of its ``seq`` at once, pay them
    (debits now, credits to ``incoming``) and say so; else change nothing. The common
    case with ample liquidity, in a few array operations instead of `rounds`."""
    lay = day.layout
    total = lane_sum(lay.sender_lane[seq], day.remaining[seq], day.n_lanes, day.exact)
    if not (total <= available(day)).all():
        return False
    day.balance -= total
    day.incoming += lane_sum(lay.receiver_lane[seq], day.remaining[seq], day.n_lanes, day.exact)
    return True


# `may_settle` refines its bound while some sample has more than REFINE_FROM payments left
# to step through, at most REFINE_ROUNDS times a pass: a round is a few array operations
# over the pass (a step of the pass costs about as much), and a round rules out one more
# link of each stuck chain of payments that would have paid each other in, of which
# SimCash's 25-day examples have hundreds
REFINE_FROM = 4
REFINE_ROUNDS = 256


def may_settle(day: BatchState, rows: np.ndarray, at: np.ndarray, avail: np.ndarray, paid_in: np.ndarray) -> np.ndarray:
    """Which of ``rows`` (at positions ``at`` of a pass's sequence, ascending) can still
    settle in the pass, given each lane's available liquidity ``avail`` at its start and
    ``paid_in``, what the whole pass pays into it (zeros with deferred crediting): a
    necessary condition, so the pass can skip the others (they would fail, changing nothing).

    Within a pass outflows only grow, so a payment over a limit now stays over it. And when
    a payment's turn comes, its sender has at most ``avail`` plus what the payments before
    it in the pass paid into it (`available` rises at most one for one with the balance).
    Only payments that may settle can pay in, so the bound is refined against the ones
    still possible (a round never drops a payment that settles). A long queue that is
    mostly stuck (limits, gridlock) then costs a few array operations instead of one step
    of the pass per payment.
    """
    lay = day.layout
    send, recv, need = lay.sender_lane[rows], lay.receiver_lane[rows], day.remaining[rows]
    own = avail[send]
    ok: np.ndarray = need <= own + paid_in[send]  # at most: every payment of the pass paying in
    if day.has_limits:
        ok &= within_limits(day, send, day.receiver[rows], need)
    if day.deferred or not ok.any() or _most_steps(day, rows, ok) <= REFINE_FROM:
        return ok
    refined = 0  # refinement rounds so far
    while refined < REFINE_ROUNDS:  # over the candidates, re-indexed once half are ruled out
        cand = np.flatnonzero(ok)
        c_send, c_need, c_own, c_at = send[cand], need[cand], own[cand], at[cand]
        # what the candidates pay in, by receiving lane then position; each candidate's turn
        # in that order (``upto``: the entries before it paying into its sender) and its
        # sender's first entry (``start``): a round is then a masked running total
        n = int(c_at[-1]) + 1
        key = recv[cand] * n + c_at
        order = np.argsort(key)
        key = key[order]
        upto, start = np.searchsorted(key, c_send * n + c_at), np.searchsorted(key, c_send * n)
        sorted_need = c_need[order]
        paid = np.zeros(cand.size + 1, dtype=np.int64)
        live = np.ones(cand.size, dtype=bool)
        while refined < REFINE_ROUNDS:
            refined += 1
            np.cumsum(np.where(live[order], sorted_need, 0), out=paid[1:])
            stuck = live & (c_need > c_own + paid[upto] - paid[start])
            if not stuck.any():
                return ok
            live &= ~stuck
            ok[cand[stuck]] = False
            if _most_steps(day, rows, ok) <= REFINE_FROM:
                return ok
            if 2 * np.count_nonzero(live) < cand.size:
                break
    return ok


def _most_steps(day: BatchState, rows: np.ndarray, ok: np.ndarray) -> int:
    """The most payments of ``rows[ok]`` in one sample (the steps a pass over them takes)."""
    if day.n_samples == 1:
        return int(np.count_nonzero(ok))
    return int(np.bincount(day.layout.sample[rows[ok]]).max(initial=0))


def scan(day: BatchState, seq: np.ndarray, t: int) -> np.ndarray:
    """Settle ``seq`` (each sample's rows in sequence order) payment by payment within each
    sample; returns the settled mask and marks those rows settled. The simple path of every
    settlement pass (and the only one with immediate crediting)."""
    ok = np.zeros(seq.size, dtype=bool)
    if seq.size == 0:
        return ok
    lay = day.layout
    send, recv, need = lay.sender_lane[seq], lay.receiver_lane[seq], day.remaining[seq]
    hard = np.arange(seq.size)
    if day.fast:
        avail = available(day)
        n_lanes = day.n_lanes
        # what the whole pass pays into each lane, usable within it (not with deferred crediting)
        paid_in = np.zeros(n_lanes, dtype=np.int64) if day.deferred else lane_sum(recv, need, n_lanes, day.exact)
        if not day.has_limits:
            out_total = lane_sum(send, need, n_lanes, day.exact)
            in_total = lane_sum(recv, need, n_lanes, day.exact) if day.deferred else paid_in
            # Samples where every sender covers all its payments from its opening available
            # liquidity settle everything, in any order (inflows only add): apply the net flows.
            short = np.zeros(day.n_samples, dtype=bool)
            short[np.flatnonzero(out_total > avail) // day.n_agents] = True
            easy = ~short[lay.sample[seq]]
            if easy.any():
                easy_lane = ~np.repeat(short, day.n_agents)
                day.balance -= np.where(easy_lane, out_total, 0)
                credit(day, np.flatnonzero(easy_lane), in_total[easy_lane])
                ok[easy] = True
            hard = np.flatnonzero(~easy)
        hard = hard[may_settle(day, seq[hard], hard, avail, paid_in)]
    for step in rank_steps(lay.sample[seq[hard]]):
        w = hard[step]  # one payment per sample: distinct sender and receiver lanes
        fit = can_settle(day, seq[w])
        paid = w[fit]
        day.balance[send[paid]] -= need[paid]
        credit(day, recv[paid], need[paid])
        record_outflows(day, seq[paid])
        ok[paid] = True
    mark_settled(day, seq[ok], t)
    return ok
