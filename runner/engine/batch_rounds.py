"""The batch engine's settlement pass with deferred crediting and no limits, lane by lane.

Nothing is credited during the pass, so each lane (one bank of one sample) settles its own
entries in order, "settle if affordable", from a balance that only falls. ``available(b) =
max(b,0) + max(0, L - max(0,-b))`` is nondecreasing in ``b`` with slope 0 or 1 (for any
credit limit ``L``), hence ``available(b - x) >= available(b) - x``: while the running total
of a lane's entries stays within its available liquidity at the start of a round, every one
of them settles in turn, so that whole prefix settles at once (`rounds`). The next round
starts from the exact new balances. An entry above its lane's current available liquidity
can never settle later in the pass (available only falls), so it leaves the pass. Each
round settles at least the first remaining entry of every lane.

A split payment kept as a run of parts (`runner.engine.batch_runs`) is one entry: it settles
whole when it fits, and when it is the first of its lane not to, it pays the parts its lane
still covers (`runner.engine.batch_runs.pay_parts`): parts are equal but the last, the
largest, so once a part does not fit no later one does.
"""

from __future__ import annotations

import numpy as np

from runner.engine.batch_runs import PartsPaid, pay_parts
from runner.engine.batch_state import BatchState
from runner.engine.lane_sum import lane_sum
from runner.engine.rules import available_liquidity


def run_starts(lanes: np.ndarray) -> np.ndarray:
    """Mask of the positions where a new run of equal values begins."""
    new = np.ones(lanes.size, dtype=bool)
    np.not_equal(lanes[1:], lanes[:-1], out=new[1:])
    return new


def rounds(day: BatchState, seq: np.ndarray) -> tuple[np.ndarray, PartsPaid | None]:
    """Settle ``seq`` (lanes contiguous, each in order); returns the mask of the rows settled
    whole, and the parts paid of runs not settled whole (rows and amounts, if any). Debits
    balances now and credits ``incoming``; the caller marks the rows settled."""
    lanes, need = day.layout.sender_lane[seq], day.remaining[seq]
    ok = np.zeros(seq.size, dtype=bool)
    runs = day.has_runs
    # with runs, an entry's next part is what decides whether it can settle (at least in part)
    first = day.part_next[seq] if runs else need
    # the entries still undecided; the others can never settle in this pass
    avail = _lane_available(day, lanes)
    pos = np.flatnonzero(first <= avail)
    ln, nd, avail = lanes[pos], need[pos], avail[pos]
    fs = first[pos] if runs else nd
    runs = runs and bool((fs < nd).any())  # a run that may be paid in part (the pass adds none)
    paid: list[PartsPaid] = []
    while pos.size:
        new = run_starts(ln)
        cum = np.cumsum(nd)
        # running total within each lane: subtract the total before the lane's first
        # entry (those totals are nondecreasing, so a running max carries them forward)
        cum -= np.maximum.accumulate(np.where(new, cum - nd, 0))
        fit = cum <= avail  # a prefix of each lane: cum only grows within a lane
        day.balance -= lane_sum(ln[fit], nd[fit], day.n_lanes, day.exact)
        ok[pos[fit]] = True
        if runs:  # the first entry of a lane not to fit, with room for its next part: a run
            room = avail - cum + nd  # what its lane has left for it (less past that entry)
            part = np.flatnonzero(~fit & (room >= fs))
            if part.size:
                paid.append(pay_parts(day, seq, pos, ln, nd, fs, room, part))
        # the next round: what did not fit and still can (available only fell)
        avail = _lane_available(day, ln)
        nxt = np.flatnonzero(~fit & (fs <= avail))
        pos, ln, nd, avail = pos[nxt], ln[nxt], nd[nxt], avail[nxt]
        fs = fs[nxt] if runs else nd
    # the credits: of each run paid in part before settling whole, what was left of it
    return ok, _credit(day, seq[ok], day.remaining[seq[ok]] if runs else need[ok], paid)


def _credit(day: BatchState, rows: np.ndarray, amounts: np.ndarray, paid: list[PartsPaid]) -> PartsPaid | None:
    """Credit the receivers of ``rows`` settled (``amounts``) and of the parts ``paid`` (to
    ``incoming``); returns those parts, joined."""
    receiver = day.layout.receiver_lane
    if rows.size:
        day.incoming += lane_sum(receiver[rows], amounts, day.n_lanes, day.exact)
    if not paid:
        return None
    parts, values = paid[0] if len(paid) == 1 else (np.concatenate(c) for c in zip(*paid, strict=True))
    day.incoming += lane_sum(receiver[parts], values, day.n_lanes, day.exact)
    return parts, values


def available(day: BatchState, lanes: np.ndarray | None = None) -> np.ndarray:
    """Liquidity ``lanes`` (default: every lane) can pay from: balance plus unused credit."""
    if lanes is None:
        b, limit = day.balance, day.overdraft_limit
    else:
        b, limit = day.balance[lanes], day.overdraft_limit[lanes]
    out: np.ndarray = available_liquidity(b, limit)
    return out


def _lane_available(day: BatchState, lanes: np.ndarray) -> np.ndarray:
    """`available` of each of ``lanes`` (with repeats): computed per lane then gathered when
    there are more entries than lanes."""
    return available(day)[lanes] if lanes.size > day.n_lanes else available(day, lanes)
