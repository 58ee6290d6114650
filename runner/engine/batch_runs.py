"""Split payments kept as runs of parts: the batch engine's fast path for splitting.

On the path where Queue 2 is settled a lane at a time (`runner.engine.batch_rounds`:
deferred crediting, no limits) and a part can only ever be settled there — no LSM to offset
it, no Queue-2 action to send it back to Queue 1, no ``priority_mode`` re-ordering, no
``StaggerSplit`` — a split payment's parts never act alone. They are released together, in
the payment's place, and wait in Queue 2 one after the other; all are equal (``floor(amount /
N)``) but the last, which carries the remainder and so is the largest. Settling them one by
one, "settle if affordable" while available liquidity only falls within the pass, then
always settles a *prefix* of them: once a part does not fit, no later one does. So the
payment's own row stands for all its parts (`BatchState.part_runs`), with three columns:

* ``part_count``: the parts it was split into (1: not split); every part but the last is
  ``each = amount // count``, the last ``amount − (count − 1) × each``;
* ``parts_left``: the parts not settled yet, whose value is the row's ``remaining``;
* ``part_next``: the amount of its next part to settle (``each``, or the last part's).

A split is then a few writes to the payment's row, not new rows; Queue 2 holds one entry per
payment however many parts it has left; `rounds` settles a run whole when it fits, or as many
of its parts as the lane can pay when it is the first of its lane's entries not to fit
(`pay_parts`). Everything per part is computed from the columns: penalties (`part_penalties`:
each part pays its own, on its own amount, as in SimCash), Queue-2 counts (`parts_in`).
Results are the same as with a row per part (`runner.engine.batch_split`), which every
other configuration uses; the parity tests compare both with the reference engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from runner.engine.batch_state import BatchState
    from runner.engine.rates import Penalty


PartsPaid = tuple[np.ndarray, np.ndarray]  # rows of runs paid in part, and the amounts paid


def runs_apply(day: BatchState) -> bool:
    """Whether a split's parts can be kept as a run (see the module doc)."""
    setup = day.setup
    return (
        day.splits
        and not day.staggers
        and day.fast
        and day.deferred
        and not day.has_limits
        and not (setup.bilateral_lsm or setup.cycles or setup.priority_mode or day.queue2_actions)
    )


def split_into_runs(day: BatchState, parents: np.ndarray, parts: np.ndarray) -> None:
    """Split each of ``parents`` (distinct rows, never split before) into its ``parts`` (≥ 2)."""
    if not day.has_runs:  # the first split of the evaluation: every row a run of one part
        day.part_count = np.ones(day.n_rows, dtype=np.int64)
        day.parts_left = np.ones(day.n_rows, dtype=np.int64)
        day.part_next = day.amount.copy()
        day.original_priority = day.original_priority.copy()  # the batch's column: never written
        day.has_runs = True
    # parts escalate from the priority they are created with (docs/engine.md)
    day.original_priority[parents] = day.priority[parents]
    day.part_count[parents] = parts
    day.parts_left[parents] = parts
    day.part_next[parents] = day.amount[parents] // parts


def pay_parts(
    day: BatchState,
    seq: np.ndarray,
    pos: np.ndarray,
    lanes: np.ndarray,
    need: np.ndarray,
    first: np.ndarray,
    room: np.ndarray,
    at: np.ndarray,
) -> PartsPaid:
    """In a round of `rounds` (entries ``seq[pos]`` of ``lanes``, contiguous; ``need``: their
    whole remaining, ``first``: their next part, ``room``: what their lane has left for them
    at their turn): the entries ``at``, each the first of its lane not to fit whole yet with
    room for its next part (so a run of ≥ 2 parts left), pay the parts their room covers —
    never the last: the whole would have fitted. Debits the lanes, updates the rows and
    ``need`` / ``first`` in place; returns the rows and the amounts paid (the caller credits
    them)."""
    rows, each, whole = seq[pos[at]], first[at], need[at]
    left = day.parts_left[rows]
    k = np.minimum(room[at] // each, left - 1)
    paid = k * each
    day.balance[lanes[at]] -= paid  # at most one entry per lane
    left -= k
    day.parts_left[rows] = left
    need[at] = day.remaining[rows] = whole - paid
    first[at] = day.part_next[rows] = np.where(left >= 2, each, whole - paid)
    return rows, paid


def part_penalties(day: BatchState, rows: np.ndarray, n_parts: np.ndarray, rate: Penalty) -> np.ndarray:
    """A penalty each of the last ``n_parts`` parts of each of ``rows`` pays on its own amount
    (the parts left are always the last ones; ``n_parts`` ≥ 1)."""
    if not rate.bps_num:  # a fixed penalty per part
        fixed: np.ndarray = n_parts * rate.fixed
        return fixed
    amount, count = day.amount[rows], day.part_count[rows]
    each = amount // count
    last = amount - (count - 1) * each
    out: np.ndarray = (n_parts - 1) * rate.of(each) + rate.of(last)
    return out


def parts_in(day: BatchState, rows: np.ndarray) -> np.ndarray | None:
    """How many parts each of ``rows`` (unsettled) stands for, or None when every row is one."""
    return day.parts_left[rows] if day.has_runs else None
