"""Growable payment rows for the batch engine's split parts (docs/engine.md, "Payment splitting").

A split turns a row into new rows (its parts), appended after the existing ones. Splits
happen at most ticks of a splitting day, so appending must cost a few array operations, not
one per column: at the first split the state's per-row columns (and those of its private
copy of the batch's `Layout`) move into one preallocated int64 block ``[column, capacity]``
(plus an int8 status and the small-integer lane keys), of which the state's arrays are then
views. An append writes every inherited column of the new rows in one gather, the parts'
own values and the constant columns in a few writes, and re-points the views. The capacity
doubles when full (amortised O(1) per row). The batch's shared schedule columns and `Layout`
are never written: the block is the state's own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from operator import attrgetter, is_

import numpy as np

from runner.engine.batch_state import Q1, BatchState
from runner.engine.rules import RTGS_NORMAL

# state columns a part copies (the RTGS priority: declared by the parent, as in SimCash)
INHERITED = ("sender", "receiver", "arrival", "deadline", "root", "rtgs_priority")
LANES = ("sample", "sender_lane", "receiver_lane")  # `Layout` columns a part copies
OWN = ("amount", "remaining", "priority", "original_priority")  # the parts' own (two pairs)
FILLED = ("settle_tick", "submitted", "child_start", "child_count")  # child_*: written at a split
COLUMNS = INHERITED + LANES + OWN + FILLED
ROW = {name: i for i, name in enumerate(COLUMNS)}
N_COPIED = len(INHERITED) + len(LANES)  # the block's first rows: copied from the parent
_FILL_NEW = np.array([[-1], [-1]], dtype=np.int64)  # a new row's settle_tick and submitted
OPTIONAL = {"rtgs_priority": RTGS_NORMAL, "submitted": -1}  # state columns allocated only when read: unread value


@dataclass(eq=False)
class PartRows:
    """The block and how much of it is used; ``views``: the arrays the state was given (a
    state array replaced since would be copied back in before the next append)."""

    block: np.ndarray
    status: np.ndarray
    lane_key: np.ndarray
    size: int
    views: tuple[np.ndarray, ...] = ()

    def column(self, name: str) -> np.ndarray:
        return self.block[ROW[name], : self.size]


_STATE = INHERITED + OWN + FILLED[:2]  # the state's columns in the block
_BASE = tuple(c for c in _STATE if c not in OPTIONAL)
_LAYOUT_COLUMNS = attrgetter(*LANES, "sender_lane_key")
_GETTERS = {names: attrgetter(*names, "status") for names in (_STATE, _BASE)}


def _state_columns(day: BatchState) -> tuple[str, ...]:
    """The state's per-row columns the block holds (the optional ones when allocated)."""
    n = day.amount.size
    if day.rtgs_priority.size == n and day.submitted.size == n:
        return _STATE
    if day.rtgs_priority.size != n and day.submitted.size != n:
        return _BASE
    return tuple(c for c in _STATE if c not in OPTIONAL or getattr(day, c).size == n)


def _current(day: BatchState, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The state's arrays the block stands for: ``names``, status, the layout's columns."""
    get = _GETTERS.get(names) or attrgetter(*names, "status")
    return (*get(day), *_LAYOUT_COLUMNS(day.layout))


def _same(current: tuple[np.ndarray, ...], views: tuple[np.ndarray, ...]) -> bool:
    """Whether the state still has exactly the arrays it was given (none replaced)."""
    return len(current) == len(views) and all(map(is_, current, views))


def _allocate(day: BatchState, need: int) -> PartRows:
    """A block of capacity ≥ ``need`` holding the state's current rows (the rest is written
    as rows are added: untouched memory costs nothing)."""
    n = day.amount.size
    cap = max(2 * need, 1024)
    block = np.empty((len(COLUMNS), cap), dtype=np.int64)
    lay = day.layout
    old = day.part_rows
    for name in INHERITED + OWN + FILLED:
        if name in ("child_start", "child_count"):  # read only for split rows, written at the split
            if old is not None:
                block[ROW[name], :n] = old.column(name)
        elif name in OPTIONAL and getattr(day, name).size != n:
            block[ROW[name], :n] = OPTIONAL[name]  # not read: never allocated on the state
        else:
            block[ROW[name], :n] = getattr(day, name)
    for name in LANES:
        block[ROW[name], :n] = getattr(lay, name)
    status = np.empty(cap, dtype=day.status.dtype)
    status[:n] = day.status
    lane_key = np.empty(cap, dtype=lay.sender_lane_key.dtype)
    lane_key[:n] = lay.sender_lane_key
    return PartRows(block, status, lane_key, n)


def add_rows(day: BatchState, parent: np.ndarray, amount: np.ndarray, priority: np.ndarray) -> tuple[int, PartRows]:
    """Append one row per entry of ``parent`` (copying its sender, receiver, arrival,
    deadline, root and lanes), with its own ``amount`` and ``priority``, in Queue 1 (status),
    unsettled. Returns the first new row and the block that now holds the rows."""
    first, k = day.amount.size, amount.size
    rows = day.part_rows
    names = _state_columns(day)
    if (
        rows is None
        or rows.size != first
        or rows.size + k > rows.block.shape[1]
        or not _same(_current(day, names), rows.views)
    ):
        rows = day.part_rows = _allocate(day, first + k)
    block, end = rows.block, first + k
    block[:N_COPIED, first:end] = block[:N_COPIED].take(parent, axis=1)
    at = ROW["amount"]
    block[at : at + 2, first:end] = amount  # amount, remaining
    block[at + 2 : at + 4, first:end] = priority  # priority, original_priority
    block[ROW["settle_tick"] : ROW["settle_tick"] + 2, first:end] = _FILL_NEW  # settle_tick, submitted
    rows.status[first:end] = Q1
    rows.lane_key[first:end] = rows.lane_key.take(parent)
    rows.size = end
    _point(day, rows, names)
    return first, rows


def _point(day: BatchState, rows: PartRows, names: tuple[str, ...]) -> None:
    """The state's arrays ``names`` (and its status and layout columns) := views of the used
    part of the block."""
    block, n = rows.block, rows.size
    views = [block[ROW[name], :n] for name in names]
    for name, view in zip(names, views, strict=True):
        setattr(day, name, view)
    day.status = rows.status[:n]
    lanes = [block[ROW[name], :n] for name in LANES]
    day.layout = replace(
        day.layout, sample=lanes[0], sender_lane=lanes[1], receiver_lane=lanes[2], sender_lane_key=rows.lane_key[:n]
    )
    rows.views = (*views, day.status, *lanes, day.layout.sender_lane_key)
