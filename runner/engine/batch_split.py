"""Payment splitting in the batch engine (docs/engine.md, "Payment splitting").

The split decisions (`decide_splits`) and, off the runs path of `runner.engine.batch_runs`
(where a payment's row stands for its parts), the parts as rows of their own.
Children are new payment rows, appended to the state's row arrays when a split happens
(`runner.engine.batch_rows`; a batch without a split never grows). A child's row is its own
payment for every rule; the state keeps each row's ``root`` (the scenario payment it
descends from) so that counts and settlement ticks stay per scenario payment
(`settled_roots`); a part inherits its payment's deadline, and goes overdue with it
(`due_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.engine.batch_policy_groups import PolicyGroup, whole_args
from runner.engine.batch_rows import add_rows
from runner.engine.batch_runs import split_into_runs
from runner.engine.batch_state import FLOAT_EXACT, SETTLED, SPLIT, BatchState
from runner.engine.rates import COMPONENT
from runner.engine.reference_split import UNSUBMITTED_PART
from runner.engine.rules import MAX_SPLIT_DESCENDANTS, MAX_SPLIT_PARTS
from runner.errors import SimulationError


@dataclass
class Staggering:
    """Per Queue-1 row, kept when some policy has a StaggerSplit leaf: the children released
    at once, the children's priority, and whether the split staggers."""

    first_now: np.ndarray
    priority: np.ndarray
    stagger: np.ndarray

    def at(self, rows: np.ndarray) -> Staggering:
        return Staggering(self.first_now[rows], self.priority[rows], self.stagger[rows])


@dataclass
class SplitDecisions:
    """Per Queue-1 row of a payment pass: parts (-1 where the row reached no split leaf; 0 or
    1 releases the payment whole), and the `Staggering` if some policy can stagger (else
    every child is released at once, with its parent's priority)."""

    parts: np.ndarray
    staggering: Staggering | None = None

    @classmethod
    def empty(cls, n: int, staggers: bool) -> SplitDecisions:
        parts = np.full(n, -1, dtype=np.int64)
        if not staggers:
            return cls(parts)
        zeros = np.zeros(n, dtype=np.int64)
        return cls(parts, Staggering(zeros, zeros.copy(), np.zeros(n, dtype=bool)))

    def at(self, rows: np.ndarray) -> SplitDecisions:
        """The decisions of ``rows`` (positions), in that order."""
        return SplitDecisions(self.parts[rows], None if self.staggering is None else self.staggering.at(rows))


def decide_splits(
    day: BatchState,
    group: PolicyGroup,
    rows: np.ndarray,
    leaf: np.ndarray,
    args: dict[str, np.ndarray],
    out: SplitDecisions,
    at: slice | np.ndarray,
    t: int,
) -> None:
    """Fill ``out[at]`` for ``rows`` whose payment-tree ``leaf`` is a split action (the
    reference's `runner.engine.reference_split.split_payment` argument rules); with
    `BatchState.part_runs`, split them now (they are all released, whole rows)."""
    sel = np.flatnonzero(group.split[leaf])
    if sel.size == 0:
        return
    name = group.program.name
    r = rows[sel]
    parts = np.minimum(
        whole_args(args["num_splits"][sel], MAX_SPLIT_PARTS, "num_splits", name, floor=False), day.amount[r]
    )
    idx = sel if isinstance(at, slice) and at == slice(None) else np.arange(out.parts.size)[at][sel]
    out.parts[idx] = parts
    if day.part_runs:  # split now: each payment's row stands for its parts, released in its place
        split = parts >= 2
        if not split.all():
            r, parts = r[split], parts[split]
        _split_into_runs(day, r, parts, t)
        return
    staggering = out.staggering
    if staggering is None:  # no StaggerSplit anywhere
        return
    priority = day.priority[r]
    first = parts
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
    staggering.first_now[idx], staggering.priority[idx], staggering.stagger[idx] = first, priority, stagger


def _split_into_runs(day: BatchState, parents: np.ndarray, parts: np.ndarray, t: int) -> None:
    """`runner.engine.batch_runs.split_into_runs`, with the friction."""
    if parents.size == 0:
        return
    if not day.has_runs:  # a row's penalty now adds up to one per part
        day.exact = _row_bound(day, MAX_SPLIT_PARTS) * day.n_rows < FLOAT_EXACT
    split_into_runs(day, parents, parts)
    if day.setup.rates.split_friction:
        _charge_friction(day, parents, parts, t)


def split_rows(
    day: BatchState, released: np.ndarray, decisions: SplitDecisions, t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split the rows of ``released`` (release order; ``decisions`` theirs) whose parts are
    ≥ 2 into children; the others stay. Returns (the release order with each split row
    replaced by its children released at once, the children joining the end of Queue 1 in
    that order)."""
    parts = decisions.parts
    split = parts >= 2
    if not split.any():
        return released, released[:0]
    parents, p = released[split], parts[split]
    ends = np.cumsum(p)
    whole = day.amount[parents]
    each = whole // p
    amount = np.repeat(each, p)
    amount[ends - 1] += whole - each * p  # the last child: the remainder
    staggering = decisions.staggering
    priority = day.priority[parents] if staggering is None else staggering.priority[split]
    base = _append_children(day, parents, p, ends, amount, np.repeat(priority, p))  # first child rows
    day.status[parents] = SPLIT
    if day.setup.rates.split_friction:
        _charge_friction(day, parents, p, t)
    if staggering is None or not staggering.stagger.any():  # every child released at once, in its parent's place
        # entry i of the order is row start[j] + (i - offsets[j]) for the j-th released row:
        # a split row's children are consecutive rows from its first child
        counts = np.where(split, parts, 1)
        offsets = np.cumsum(counts)
        start = released - (offsets - counts)
        start[split] = base - (offsets[split] - p)
        return np.repeat(start, counts) + np.arange(int(offsets[-1])), released[:0]
    first_now, staggered = staggering.first_now, staggering.stagger[split]
    # the release order: each split row replaced by its first f children
    f = first_now[split]
    counts = np.where(split, first_now, 1)
    offsets = np.cumsum(counts) - counts
    order = np.empty(int(counts.sum()), dtype=np.int64)
    keep = ~split
    order[offsets[keep]] = released[keep]
    within = np.arange(int(f.sum())) - np.repeat(np.cumsum(f) - f, f)
    now = np.repeat(base, f) + within
    order[np.repeat(offsets[split], f) + within] = now
    if day.submitted.size:  # allocated, so read: a StaggerSplit's are never submitted
        day.submitted[now[np.repeat(staggered, f)]] = UNSUBMITTED_PART
    later = np.repeat(base + f, p - f) + (np.arange(int((p - f).sum())) - np.repeat(np.cumsum(p - f) - (p - f), p - f))
    return order, later


def _append_children(
    day: BatchState, parents: np.ndarray, parts: np.ndarray, ends: np.ndarray, amount: np.ndarray, priority: np.ndarray
) -> np.ndarray:
    """Append the children of ``parents`` (``parts`` each, in parent order; ``ends``: their
    running total) as new rows; returns each parent's first child row."""
    first = add_rows(day, parents, parts, amount, priority)
    base: np.ndarray = first + (ends - parts)
    _count_parts(day, parents, parts)
    if day.split_row_bound < 0:
        day.split_row_bound = _row_bound(day)
    day.exact = day.split_row_bound * day.n_rows < FLOAT_EXACT
    return base


def _count_parts(day: BatchState, parents: np.ndarray, parts: np.ndarray) -> None:
    """Parts per scenario payment so far, within `MAX_SPLIT_DESCENDANTS`. A split of
    scenario payments alone cannot exceed it (each is split once, into at most
    `MAX_SPLIT_PARTS`), so the count starts at the first split of a part: from the roots of
    every part row then (this split's included), incrementally after."""
    if int(parents.max()) < day.n_payments:  # scenario payments, each split once: distinct roots
        if day.parts_of.size:
            day.parts_of[parents] += parts
        return
    roots = day.root[parents]
    if day.parts_of.size == 0:
        day.parts_of = np.bincount(day.root[day.n_payments : day.n_rows], minlength=day.n_payments)
    else:
        np.add.at(day.parts_of, roots, parts)
    if int(day.parts_of[roots].max()) > MAX_SPLIT_DESCENDANTS:
        raise SimulationError(
            f"a payment was split into more than {MAX_SPLIT_DESCENDANTS} parts in all (splits of its parts included)"
        )


def due_rows(day: BatchState, t: int) -> np.ndarray:
    """The rows whose deadline is ``t − 1``: the scenario payments', and the parts of those
    split by now (each part has its payment's deadline; a part created later, after its
    deadline, is not due again: its payment was charged)."""
    due = day.layout.by_deadline[t]
    n = day.n_payments
    if day.n_rows == n or due.size == 0:
        return due
    parts = np.flatnonzero(day.deadline[n : day.n_rows] == t - 1)
    return np.concatenate((due, parts + n)) if parts.size else due


def _row_bound(day: BatchState, parts: int = 1) -> int:
    """The largest term one row adds to a per-lane sum: amount × delay weight, a penalty (one
    per part for a row standing for up to ``parts`` parts), a tick (parts are never larger
    than their scenario payment)."""
    top = int(np.abs(day.amount[: day.n_payments]).max(initial=0))
    rates = day.setup.rates
    largest = np.array([top])
    penalty = max(int(rates.deadline_penalty.of(largest)[0]), int(rates.eod_penalty.of(largest)[0]))
    return max(top * int(rates.delay_lut.max()), day.setup.horizon, parts * penalty)


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
    status, end = day.status, day.n_rows
    if end == n:
        return status == SETTLED, day.settle_tick
    # a split payment: settled when no part of it is still open (parts are the rows
    # n … n_rows − 1, each knowing its scenario payment); its tick: the latest of its parts'
    done = status[:n] == SETTLED
    tick = np.where(done, day.settle_tick[:n], -1)
    part_status, part_root = status[n:end], day.root[n:end]
    leaf = part_status != SPLIT
    split_done = status[:n] == SPLIT
    split_done[part_root[leaf & (part_status != SETTLED)]] = False
    np.maximum.at(tick, part_root[leaf], day.settle_tick[n:end][leaf])
    done |= split_done
    return done, np.where(done, tick, -1)
