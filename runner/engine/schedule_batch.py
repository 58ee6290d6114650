"""`ScheduleBatch`: many samples' schedules as flat columns, the batch engine's input layout.

The batch engine keeps every sample's payments end to end in one array per field. Building
that layout from a list of `Schedule` objects costs a concatenate per field, and dozens of
small numpy arrays per sample cost Ray more to serialise than the evaluation itself. So
samples are handled as a batch wherever several of them travel together:

* bootstrap samples are drawn straight into a batch (`runner.experiment.bootstrap`);
* the two policies of a paired comparison are evaluated on the same batch object;
* a Ray task receives a slice of a batch: a dozen buffers whatever the number of samples.

A batch is a ``Sequence[Schedule]``: indexing gives one sample's `Schedule` (views into the
columns), slicing gives a batch, so code written for a list of schedules works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from runner.engine.schedule import Schedule

PAYMENT_FIELDS = ("sender", "receiver", "amount", "arrival", "deadline", "priority")
EVENT_FIELDS = ("event_tick", "event_kind", "event_from", "event_to", "event_amount")


def _starts(sizes: np.ndarray) -> np.ndarray:
    out = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def _gather(starts: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the segments ``order`` (in that order) and the new segment starts."""
    sizes = (starts[1:] - starts[:-1])[order]
    new_starts = _starts(sizes)
    positions = np.arange(new_starts[-1], dtype=np.int64) + np.repeat(starts[order] - new_starts[:-1], sizes)
    return positions, new_starts


@dataclass(frozen=True, eq=False)
class ScheduleBatch(Sequence[Schedule]):
    """Samples' schedules end to end: one int64 array per `Schedule` field.

    Sample ``k``'s payments are ``columns[f][payment_starts[k]:payment_starts[k + 1]]`` for
    the payment fields, its balance events likewise with ``event_starts``.
    """

    columns: dict[str, np.ndarray]
    payment_starts: np.ndarray  # int64 [n + 1]
    event_starts: np.ndarray  # int64 [n + 1]
    seeds: tuple[int | None, ...]

    # ------------------------------------------------------------------ building
    @classmethod
    def of(cls, schedules: Sequence[Schedule]) -> ScheduleBatch:
        """``schedules`` as a batch (a batch is returned as it is)."""
        if isinstance(schedules, ScheduleBatch):
            return schedules
        columns: dict[str, np.ndarray] = {}
        for fields in (PAYMENT_FIELDS, EVENT_FIELDS):
            # one concatenate of every array: numpy's cost here is per array, not per element
            flat = [getattr(s, f) for f in fields for s in schedules]
            joined = np.concatenate(flat).astype(np.int64, copy=False) if flat else np.zeros(0, np.int64)
            columns.update(zip(fields, joined.reshape(len(fields), -1), strict=True))
        return cls(
            columns,
            _starts(np.array([s.amount.size for s in schedules], dtype=np.int64)),
            _starts(np.array([s.event_tick.size for s in schedules], dtype=np.int64)),
            tuple(s.seed for s in schedules),
        )

    @classmethod
    def from_blocks(
        cls, payments: dict[str, np.ndarray], events: dict[str, np.ndarray], seeds: Sequence[int | None]
    ) -> ScheduleBatch:
        """Samples of equal shape: each field a ``[samples, width]`` int64 array (one row per
        sample; the payment fields share one width, the event fields another)."""
        columns = {
            name: np.ascontiguousarray(block, dtype=np.int64).reshape(-1)
            for name, block in (*payments.items(), *events.items())
        }
        step = np.arange(len(seeds) + 1, dtype=np.int64)
        return cls(
            columns, step * payments[PAYMENT_FIELDS[0]].shape[1], step * events[EVENT_FIELDS[0]].shape[1], tuple(seeds)
        )

    @staticmethod
    def concat(batches: Sequence[ScheduleBatch]) -> ScheduleBatch:
        """The samples of ``batches``, one batch after the other."""
        if len(batches) == 1:
            return batches[0]
        columns = {f: np.concatenate([b.columns[f] for b in batches]) for f in batches[0].columns}

        def starts(name: str) -> np.ndarray:
            return _starts(np.concatenate([np.diff(getattr(b, name)) for b in batches]))

        return ScheduleBatch(
            columns, starts("payment_starts"), starts("event_starts"), tuple(s for b in batches for s in b.seeds)
        )

    def take(self, order: np.ndarray) -> ScheduleBatch:
        """The samples ``order`` (indices into this batch), in that order."""
        order = np.asarray(order, dtype=np.int64)
        pay, pay_starts = _gather(self.payment_starts, order)
        ev, ev_starts = _gather(self.event_starts, order)
        columns = {f: self.columns[f][pay] for f in PAYMENT_FIELDS}
        columns.update({f: self.columns[f][ev] for f in EVENT_FIELDS})
        return ScheduleBatch(columns, pay_starts, ev_starts, tuple(self.seeds[i] for i in order.tolist()))

    # ------------------------------------------------------------------ reading
    @property
    def payment_sizes(self) -> np.ndarray:
        sizes: np.ndarray = np.diff(self.payment_starts)
        return sizes

    @property
    def event_sizes(self) -> np.ndarray:
        sizes: np.ndarray = np.diff(self.event_starts)
        return sizes

    def __len__(self) -> int:
        return len(self.seeds)

    @overload
    def __getitem__(self, index: int) -> Schedule: ...

    @overload
    def __getitem__(self, index: slice) -> ScheduleBatch: ...

    def __getitem__(self, index: int | slice) -> Schedule | ScheduleBatch:
        n = len(self)
        if isinstance(index, slice):
            lo, hi, step = index.indices(n)
            if step != 1:
                return self.take(np.arange(lo, hi, step))
            hi = max(lo, hi)
            p0, p1 = int(self.payment_starts[lo]), int(self.payment_starts[hi])
            e0, e1 = int(self.event_starts[lo]), int(self.event_starts[hi])
            columns = {f: self.columns[f][p0:p1] for f in PAYMENT_FIELDS}
            columns.update({f: self.columns[f][e0:e1] for f in EVENT_FIELDS})
            return ScheduleBatch(
                columns, self.payment_starts[lo : hi + 1] - p0, self.event_starts[lo : hi + 1] - e0, self.seeds[lo:hi]
            )
        k = index + n if index < 0 else index
        if not 0 <= k < n:
            raise IndexError(f"sample {index} of a batch of {n}")
        p0, p1 = int(self.payment_starts[k]), int(self.payment_starts[k + 1])
        e0, e1 = int(self.event_starts[k]), int(self.event_starts[k + 1])
        c = self.columns
        return Schedule(
            c["sender"][p0:p1],
            c["receiver"][p0:p1],
            c["amount"][p0:p1],
            c["arrival"][p0:p1],
            c["deadline"][p0:p1],
            c["priority"][p0:p1],
            c["event_tick"][e0:e1],
            c["event_kind"][e0:e1],
            c["event_from"][e0:e1],
            c["event_to"][e0:e1],
            c["event_amount"][e0:e1],
            seed=self.seeds[k],
        )

    def __iter__(self) -> Iterator[Schedule]:
        for k in range(len(self)):
            yield self[k]
