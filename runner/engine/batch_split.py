"""Payment splitting in the batch engine (docs/engine.md, "Payment splitting").

Children are new payment rows, appended to the state's row arrays when a split happens (a
batch without a split never grows). A child's row is its own payment for every rule; the
state keeps each row's ``root`` (the scenario payment it descends from) so that counts and
settlement ticks stay per scenario payment (`settled_roots`). The batch's shared `Layout` is
never written: the state takes a copy with the children's per-row entries added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from runner.engine.batch_policy_groups import PolicyGroup, whole_args
from runner.engine.batch_state import FLOAT_EXACT, FUTURE, Q1, SETTLED, SPLIT, BatchState
from runner.engine.rates import COMPONENT
from runner.engine.reference_split import UNSUBMITTED_PART
from runner.engine.rules import MAX_SPLIT_DESCENDANTS, MAX_SPLIT_PARTS
from runner.errors import SimulationError

INHERITED = ("sender", "receiver", "arrival", "deadline", "root")  # a part's, from its parent


@dataclass
class SplitDecisions:
    """Per Queue-1 row of a payment pass: parts (-1 where the row reached no split leaf; 0 or
    1 releases the payment whole), children released at once, the children's priority, and
    whether the split is a StaggerSplit."""

    parts: np.ndarray
    first_now: np.ndarray
    priority: np.ndarray
    stagger: np.ndarray

    @classmethod
    def empty(cls, n: int) -> SplitDecisions:
        zeros = np.zeros(n, dtype=np.int64)
        return cls(np.full(n, -1, dtype=np.int64), zeros, zeros.copy(), np.zeros(n, dtype=bool))


def decide_splits(
    day: BatchState,
    group: PolicyGroup,
    rows: np.ndarray,
    leaf: np.ndarray,
    args: dict[str, np.ndarray],
    out: SplitDecisions,
    at: slice | np.ndarray,
) -> None:
    """Fill ``out[at]`` for ``rows`` whose payment-tree ``leaf`` is a split action (the
    reference's `runner.engine.reference_split.split_payment` argument rules)."""
    hit = group.split[leaf]
    if not hit.any():
        return
    name = group.program.name
    sel = np.flatnonzero(hit)
    r = rows[sel]
    parts = np.minimum(
        whole_args(args["num_splits"][sel], MAX_SPLIT_PARTS, "num_splits", name, floor=False), day.amount[r]
    )
    priority = day.priority[r].copy()
    first = parts.copy()
    stagger = group.stagger[leaf[sel]]
    if stagger.any():
        leaves = group.program.leaves("payment_tree")

        def arg(key: str, default: float) -> np.ndarray:
            """The argument where this row's leaf is a StaggerSplit giving it, else default."""
            given = stagger & np.array([key in leaves[i].args for i in leaf[sel]])
            if key not in args:
                return np.full(sel.size, default)
            return np.where(given, args[key][sel], default)

        boost = whole_args(arg("priority_boost_children", 0.0), 10, "priority_boost_children", name, floor=False)
        first_now = np.minimum(
            whole_args(arg("stagger_first_now", 1.0), MAX_SPLIT_PARTS, "stagger_first_now", name, floor=False), parts
        )
        priority = np.where(stagger, np.minimum(10, priority + boost), priority)
        first = np.where(stagger, first_now, parts)
    idx = np.arange(out.parts.size)[at][sel]
    out.parts[idx], out.first_now[idx], out.priority[idx] = parts, first, priority
    out.stagger[idx] = stagger


def split_rows(
    day: BatchState,
    released: np.ndarray,
    parts: np.ndarray,
    first_now: np.ndarray,
    priority: np.ndarray,
    stagger: np.ndarray,
    t: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Split the rows of ``released`` (release order) whose ``parts`` ≥ 2 into children; the
    others stay. Returns (the release order with each split row replaced by its children
    released at once, the children joining the end of Queue 1 in that order)."""
    split = parts >= 2
    if not split.any():
        return released, released[:0]
    parents, p = released[split], parts[split]
    f, pri = first_now[split], priority[split]
    n_new = int(p.sum())
    base = day.amount.size + np.cumsum(p) - p  # first child row of each parent
    parent = np.repeat(parents, p)
    k = np.arange(n_new) - np.repeat(base - day.amount.size, p)  # child index within its split
    each = np.repeat(day.amount[parents] // p, p)
    last = k == np.repeat(p, p) - 1
    amount = np.where(last, np.repeat(day.amount[parents], p) - each * (np.repeat(p, p) - 1), each)
    _append_children(day, parent, amount, np.repeat(pri, p), t)
    day.status[parents] = SPLIT
    _charge_friction(day, parents, p, t)
    # the release order: each split row replaced by its first f children
    counts = np.where(split, first_now, 1)
    offsets = np.cumsum(counts) - counts
    order = np.empty(int(counts.sum()), dtype=np.int64)
    keep = ~split
    order[offsets[keep]] = released[keep]
    within = np.arange(int(f.sum())) - np.repeat(np.cumsum(f) - f, f)
    now = np.repeat(base, f) + within
    order[np.repeat(offsets[split], f) + within] = now
    if day.submitted.size == day.amount.size:  # read: a StaggerSplit's are never submitted
        day.submitted[now[np.repeat(stagger[split], f)]] = UNSUBMITTED_PART
    later = np.repeat(base + f, p - f) + (np.arange(int((p - f).sum())) - np.repeat(np.cumsum(p - f) - (p - f), p - f))
    return order, later


def _extend(day: BatchState, key: str, current: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``current`` with ``values`` appended, as a view of a backing array that grows
    geometrically (amortised O(1) per row; the shared schedule columns are never written:
    the first growth copies them)."""
    n, k = current.size, values.size
    held = day.row_backing.get(key)
    if held is None or held[1] is not current or held[0].size < n + k:
        backing = np.empty(max(2 * (n + k), 1024), dtype=current.dtype)
        backing[:n] = current
    else:
        backing = held[0]
    backing[n : n + k] = values
    view = backing[: n + k]
    day.row_backing[key] = (backing, view)
    return view


def _append_children(day: BatchState, parent: np.ndarray, amount: np.ndarray, priority: np.ndarray, t: int) -> None:
    first = day.amount.size
    n = parent.size
    rows = np.arange(first, first + n)
    # only the values of columns that are allocated (rtgs_priority, submitted: when read)
    new: dict[str, Callable[[], np.ndarray]] = {
        "status": lambda: np.full(n, Q1, dtype=np.int8),
        "amount": lambda: amount,
        "remaining": lambda: amount,
        "priority": lambda: priority,
        "original_priority": lambda: priority,
        "rtgs_priority": lambda: day.rtgs_priority[parent],  # declared by the parent (SimCash)
        "submitted": lambda: np.full(n, -1, dtype=np.int64),
        "settle_tick": lambda: np.full(n, -1, dtype=np.int64),
    }
    for name in INHERITED:  # copied from the parent
        current = getattr(day, name)
        if current.size == first:
            setattr(day, name, _extend(day, name, current, current[parent]))
    for name, values in new.items():
        current = getattr(day, name)
        if current.size == first:
            setattr(day, name, _extend(day, name, current, values()))
    if day.parts_of.size == 0:  # parts per scenario payment so far
        day.parts_of = np.zeros(day.n_payments, dtype=np.int64)
    roots = day.root[rows]
    np.add.at(day.parts_of, roots, 1)
    if int(day.parts_of[roots].max()) > MAX_SPLIT_DESCENDANTS:
        raise SimulationError(
            f"a payment was split into more than {MAX_SPLIT_DESCENDANTS} parts in all (splits of its parts included)"
        )
    lay = day.layout
    by_deadline = lay.by_deadline
    due = day.deadline[rows] + 1
    ticks = np.unique(due[(due >= t) & (due < len(by_deadline))])
    if ticks.size:
        by_deadline = list(by_deadline)
        for tick in ticks:
            by_deadline[tick] = np.concatenate((by_deadline[tick], rows[due == tick]))
    day.layout = replace(
        lay,
        sample=_extend(day, "sample", lay.sample, lay.sample[parent]),
        sender_lane=_extend(day, "sender_lane", lay.sender_lane, lay.sender_lane[parent]),
        receiver_lane=_extend(day, "receiver_lane", lay.receiver_lane, lay.receiver_lane[parent]),
        sender_lane_key=_extend(day, "sender_lane_key", lay.sender_lane_key, lay.sender_lane_key[parent]),
        by_deadline=by_deadline,
    )
    if day.split_row_bound < 0:
        day.split_row_bound = _row_bound(day)
    day.exact = day.split_row_bound * day.amount.size < FLOAT_EXACT


def _row_bound(day: BatchState) -> int:
    """The largest term one row adds to a per-lane sum: amount × delay weight, a penalty, a
    tick (parts are never larger than their scenario payment)."""
    top = int(np.abs(day.amount[: day.n_payments]).max(initial=0))
    rates = day.setup.rates
    largest = np.array([top])
    penalty = max(int(rates.deadline_penalty.of(largest)[0]), int(rates.eod_penalty.of(largest)[0]))
    return max(top * int(rates.delay_lut.max()), day.setup.horizon, penalty)


def _charge_friction(day: BatchState, parents: np.ndarray, parts: np.ndarray, t: int) -> None:
    friction = day.setup.rates.split_friction * (parts - 1)
    np.add.at(
        day.costs,
        (day.layout.sample[parents], t // day.setup.ticks_per_day, day.sender[parents], COMPONENT["split_friction"]),
        friction,
    )


def settled_roots(day: BatchState, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per scenario payment (rows ``0..n-1``): settled (all its descendants are) and the tick
    its last one settled (-1 if not settled)."""
    if day.amount.size == n:
        return day.status == SETTLED, day.settle_tick
    leaf = day.status != SPLIT
    open_leaf = leaf & (day.status != SETTLED)
    done = np.bincount(day.root[open_leaf], minlength=n)[:n] == 0
    done &= day.status[:n] != FUTURE
    tick = np.full(n, -1, dtype=np.int64)
    np.maximum.at(tick, day.root[leaf], day.settle_tick[leaf])
    return done, np.where(done, tick, -1)
