"""Growable payment rows for the batch engine's split parts (docs/engine.md, "Payment splitting").

A split turns a row into new rows (its parts), appended after the existing ones. Splits
happen at most ticks of a splitting day, so appending must cost a few array writes, not
one per column nor a re-pointing of every array: at the first split the state's per-row
columns (and those of its private copy of the batch's `Layout`) move into one preallocated
int64 block ``[column, capacity]`` (plus an int8 status and the small-integer lane keys), of
which the state's arrays are then views over the whole capacity. `BatchState.n_rows` says
how many rows are in use; the spare rows beyond are never read (every step reaches rows
through its queues or the row ranges it is given). An append writes every inherited
column of the new rows in one gather and the parts' own values and the constant columns in
a few writes, in place. The capacity doubles when full (amortised O(1) per row); only then
are the state's arrays re-pointed. The batch's shared schedule columns and `Layout` are
never written: the block is the state's own copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from operator import attrgetter, is_

import numpy as np

from runner.engine.batch_state import FUTURE, Q1, BatchState
from runner.engine.rules import RTGS_NORMAL

# state columns a part copies (the RTGS priority: declared by the parent, as in SimCash)
INHERITED = ("sender", "receiver", "arrival", "deadline", "root", "rtgs_priority")
LANES = ("sample", "sender_lane", "receiver_lane")  # `Layout` columns a part copies
OWN = ("amount", "remaining", "priority", "original_priority")  # the parts' own (two pairs)
FILLED = ("settle_tick", "submitted")  # a new row's: -1 (unsettled, never submitted)
COLUMNS = INHERITED + LANES + OWN + FILLED
ROW = {name: i for i, name in enumerate(COLUMNS)}
N_COPIED = len(INHERITED) + len(LANES)  # the block's first rows: copied from the parent
OPTIONAL = {"rtgs_priority": RTGS_NORMAL, "submitted": -1}  # state columns allocated only when read: unread value


@dataclass(eq=False)
class PartRows:
    """The block and the arrays the state was given (``current`` reads them off the state:
    an array replaced since would be copied back in by `add_rows`)."""

    block: np.ndarray
    status: np.ndarray
    lane_key: np.ndarray
    current: Callable[[BatchState], tuple[np.ndarray, ...]]
    views: tuple[np.ndarray, ...]

    @property
    def capacity(self) -> int:
        return int(self.block.shape[1])


_STATE = INHERITED + OWN + FILLED  # the state's columns in the block
_LAYOUT_COLUMNS = tuple(f"layout.{name}" for name in (*LANES, "sender_lane_key"))


def _state_columns(day: BatchState) -> tuple[str, ...]:
    """The state's per-row columns the block holds (the optional ones when allocated)."""
    return tuple(c for c in _STATE if c not in OPTIONAL or getattr(day, c).size)


def _allocate(day: BatchState, need: int) -> PartRows:
    """A block of capacity ≥ ``need`` holding the state's rows in use (the rest is written
    as rows are added: untouched memory costs nothing); the state's arrays become its views."""
    n = day.n_rows
    cap = max(2 * need, 1024)
    block = np.empty((len(COLUMNS), cap), dtype=np.int64)
    names = _state_columns(day)
    for name in _STATE:
        block[ROW[name], :n] = getattr(day, name)[:n] if name in names else OPTIONAL[name]
    lay = day.layout
    for name in LANES:
        block[ROW[name], :n] = getattr(lay, name)[:n]
    status = np.full(cap, FUTURE, dtype=day.status.dtype)  # spare rows: never arrive
    status[:n] = day.status[:n]
    lane_key = np.empty(cap, dtype=lay.sender_lane_key.dtype)
    lane_key[:n] = lay.sender_lane_key[:n]
    for name in names:
        setattr(day, name, block[ROW[name]])
    day.status = status
    day.layout = replace(lay, **{name: block[ROW[name]] for name in LANES}, sender_lane_key=lane_key)
    current = attrgetter(*names, "status", *_LAYOUT_COLUMNS)
    return PartRows(block, status, lane_key, current, current(day))


def add_rows(day: BatchState, parents: np.ndarray, counts: np.ndarray, amount: np.ndarray, priority: np.ndarray) -> int:
    """Append ``counts[i]`` rows for each of ``parents`` (in order, copying its sender,
    receiver, arrival, deadline, root and lanes), each with its own ``amount`` and
    ``priority``, in Queue 1 (status), unsettled. Returns the first new row."""
    first, end = day.n_rows, day.n_rows + amount.size
    rows = day.part_rows
    if rows is None or end > rows.capacity or not all(map(is_, rows.current(day), rows.views)):
        rows = day.part_rows = _allocate(day, end)
    block = rows.block
    # gathered once per parent, then repeated: the gather's scattered reads are the cost
    block[:N_COPIED, first:end] = block[:N_COPIED].take(parents, axis=1).repeat(counts, axis=1)
    at = ROW["amount"]
    block[at : at + 2, first:end] = amount  # amount, remaining
    block[at + 2 : at + 4, first:end] = priority  # priority, original_priority
    block[ROW["settle_tick"] : ROW["settle_tick"] + 2, first:end] = -1  # settle_tick, submitted
    rows.status[first:end] = Q1
    rows.lane_key[first:end] = rows.lane_key.take(parents).repeat(counts)
    day.n_rows = end
    return first
