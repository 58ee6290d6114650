"""Deterministic kill points: a store and an event stream that "die" after the k-th step.

`Killed` is a `BaseException`, like the ``KeyboardInterrupt`` of a Ctrl-C: `sweep.run.run_one`
catches only `Exception`, so nothing records the run as failed or compacts it — the files
are left exactly as a SIGKILL after that step would leave them (every write is a rename of
a complete temp file, and nothing is buffered across steps). `tests/sweep/test_kill_points.py`
kills a small sweep at every step in turn and resumes it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from runner.experiment.event_types import EventPayload
from runner.experiment.events import Event, LiveStateProvider
from sweep.part_names import FileRef
from sweep.store import ParquetStore


class Killed(BaseException):
    """The simulated death of the process, right after the step it names."""


class KillingStore(ParquetStore):
    """A `ParquetStore` that counts its durable steps and dies after step ``kill_at``.

    A step is one file made visible or deleted: a saved table file, a removed one (each file
    of a removal counts alone), a status or a status batch written or removed. Steps of other
    threads (the heartbeat) are neither counted nor killed: tests make beats rare.
    """

    def __init__(self, root: Any, kill_at: int | None = None) -> None:
        super().__init__(root)
        self.kill_at = kill_at
        self.steps: list[str] = []

    def __reduce__(self) -> Any:  # pragma: no cover - never pickled (local executor)
        raise TypeError("a KillingStore is for in-process tests")

    def _step(self, what: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.steps.append(what)
        if len(self.steps) == self.kill_at:
            raise Killed(what)

    def _save(self, table: str, ref: FileRef, data: Any, index: Any) -> None:
        super()._save(table, ref, data, index)
        self._step(f"save {table}/{ref.run_id}~{ref.part}")

    def _remove(self, table: str, refs: Sequence[FileRef]) -> None:
        for ref in refs:
            super()._remove(table, [ref])
            self._step(f"remove {table}/{ref.run_id}~{ref.part}")

    def write_batch(self, table: str, sweep: str, generation: int, schema: Any, chunks: Any, entries: Any) -> str:
        name = super().write_batch(table, sweep, generation, schema, chunks, entries)
        self._step(f"save {table}/{name}")
        return name

    def delete_batch(self, table: str, sweep: str, name: str) -> None:
        super().delete_batch(table, sweep, name)
        self._step(f"remove {table}/{name}")

    def _put_status(self, sweep: str, run_id: str, text: str) -> None:
        super()._put_status(sweep, run_id, text)
        self._step(f"status {run_id}")

    def _delete_status_file(self, sweep: str, run_id: str) -> None:
        super()._delete_status_file(sweep, run_id)
        self._step(f"remove status {run_id}")

    def write_status_batch(self, sweep: str, generation: int, texts: dict[str, str]) -> str:
        name = super().write_status_batch(sweep, generation, texts)
        self._step(f"status batch {name}")
        return name

    def delete_status_batch(self, sweep: str, name: str) -> None:
        super().delete_status_batch(sweep, name)
        self._step(f"remove status batch {name}")


@contextmanager
def kill_after_event(k: int) -> Iterator[list[Event]]:
    """Within the block, the process "dies" right after its k-th event reached every sink."""
    emitted: list[Event] = []
    original = LiveStateProvider.emit

    def emit(self: LiveStateProvider, iteration: int, payload: EventPayload) -> Event:
        event = original(self, iteration, payload)
        emitted.append(event)
        if len(emitted) == k:
            raise Killed(f"after event {k} ({event.type})")
        return event

    LiveStateProvider.emit = emit  # type: ignore[method-assign]
    try:
        yield emitted
    finally:
        LiveStateProvider.emit = original  # type: ignore[method-assign]
