"""The rules every result store follows, written once over five file primitives.

A backend (`sweep.store.MemoryStore`, `sweep.store.ParquetStore`) only lists, loads, saves
and removes whole "files" — a run's part files ``(sweep, run_id, part)`` and its compacted
file ``(sweep, run_id, None)`` — and keeps status texts. (`ParquetStore` also serves a run's
slice of a batch file as its compacted file: `sweep.batch_files`.) `PartStore` turns those into the
store's semantics, so both backends pass the same contract test by construction:

* **A part name is the unit of replacement.** Writing a part again replaces it, also after
  the run was compacted: a compacted file records which parts it holds and how many rows
  each (``paylab.parts`` in its Parquet metadata), and a part file of the same name
  overrides that slice. A retried iteration therefore never duplicates rows.
* **The events part commits an iteration.** The rows of the other event-derived tables
  (iterations, proposals, samples, llm_calls) are visible only for parts that the run's
  events table also holds. A writer writes the events part last, so a crash between tables
  leaves orphan parts nobody reads; the next write of the same part name replaces them and
  compaction deletes what is still orphaned. (``runs`` is not gated: it has one part.)
* **Compaction** merges a table's visible parts (and the kept slices of an earlier
  compacted file) into ``<run_id>.parquet``, then deletes the part files. A crash between
  the two steps leaves parts that the merged file already lists: readers skip them (the
  override yields the same rows) and compacting again finishes the job.

The names of those files are `sweep.part_names`; fitting rows of different runs to one schema
is `sweep.schema_fit`. `StatusRecord` is the status a store keeps per run.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow.compute as pc

from runner.errors import EventStreamError
from runner.experiment.event_types import ReferenceCostPayload, type_name
from runner.experiment.events import Event, stored_event
from runner.experiment.status import RunStatus
from sweep.part_names import FileRef, PartIndex, check_names
from sweep.schema_fit import concat, conform
from sweep.tables import RUN_STATUSES, SORT_KEYS, TABLES

GATED_TABLES = ("iterations", "proposals", "samples", "llm_calls")
_READ_RETRIES = 3


@dataclass(frozen=True)
class StatusRecord:
    """A run's status with its last heartbeat (UTC) and the progress figures it reported."""

    run_id: str
    status: str  # pending | running | done | failed
    attempt: int
    heartbeat: datetime
    error: str | None = None
    progress: dict[str, Any] | None = None

    def is_stale(self, now: datetime, timeout_s: float) -> bool:
        """True for a ``running`` run whose last heartbeat is older than ``timeout_s``.

        Heartbeats come from other machines' clocks: keep the timeout well above both the
        heartbeat interval and any clock skew.
        """
        return self.status == RunStatus.RUNNING and (now - self.heartbeat).total_seconds() > timeout_s

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "heartbeat": self.heartbeat.isoformat()}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> StatusRecord:
        d = json.loads(text)
        return StatusRecord(
            d["run_id"],
            d["status"],
            int(d["attempt"]),
            datetime.fromisoformat(d["heartbeat"]),
            d.get("error"),
            d.get("progress"),
        )


# ---------------------------------------------------------------------------- the base store
class PartStore(ABC):
    """`sweep.store.ResultStore` semantics over file primitives (see the module docstring)."""

    # -------------------------------------------------------------- backend primitives
    @abstractmethod
    def _list(self, table: str, sweep: str | None, run_id: str | None) -> list[FileRef]:
        """Every stored file of ``table`` (of one sweep / run when given)."""

    @abstractmethod
    def _load(self, table: str, refs: Sequence[FileRef]) -> Any:
        """The rows of ``refs`` as one table with a ``sweep`` column (any column order)."""

    @abstractmethod
    def _index(self, table: str, ref: FileRef) -> PartIndex:
        """The part index a compacted file was saved with."""

    @abstractmethod
    def _save(self, table: str, ref: FileRef, data: Any, index: PartIndex | None) -> None:
        """Store ``data`` (no ``sweep`` column) as ``ref``, atomically replacing it."""

    @abstractmethod
    def _remove(self, table: str, refs: Sequence[FileRef]) -> None:
        """Delete ``refs`` (already missing files are fine)."""

    @abstractmethod
    def _put_status(self, sweep: str, run_id: str, text: str) -> None: ...

    @abstractmethod
    def _status_texts(self, sweep: str) -> dict[str, str]: ...

    @abstractmethod
    def _status_text(self, sweep: str, run_id: str) -> str | None: ...

    @abstractmethod
    def _remove_status(self, sweep: str, run_id: str) -> None: ...

    # -------------------------------------------------------------- writing
    def write_part(self, table: str, sweep: str, run_id: str, part: str, data: Any) -> None:
        """Store ``data`` as part ``part`` of ``run_id``'s rows of ``table`` (replacing it)."""
        if table not in TABLES:
            raise ValueError(f"table must be one of {TABLES}, got {table!r}")
        check_names(sweep, run_id, part)
        if "run_id" not in data.column_names:
            raise ValueError(f"part {part!r} of table {table!r} has no run_id column")
        for column, expected in (("sweep", sweep), ("run_id", run_id)):
            # the file name says whose rows these are; the de-dup rules rely on it
            if (
                column in data.column_names
                and data.num_rows
                and not pc.all(pc.equal(data.column(column), expected), skip_nulls=False).as_py()
            ):
                raise ValueError(f"every row of part {part!r} must have {column}={expected!r}")
        rows = conform(table, data, strict=True).drop_columns(["sweep"])
        self._save(table, FileRef(sweep, run_id, part), rows, None)

    def compact(self, sweep: str, run_id: str) -> None:
        """Merge each table's parts of ``run_id`` into one file; idempotent and crash-safe."""
        check_names(sweep, run_id)
        for table in TABLES:
            refs = self._list(table, sweep, run_id)
            part_refs = [r for r in refs if r.part is not None]
            if not part_refs:
                continue
            compacted, parts = self._run_view(table, refs, _EventParts(self, sweep, run_id))
            if parts:
                pieces = self._pieces(table, compacted, parts)
                merged = concat(table, [t for _, t in pieces]).drop_columns(["sweep"])
                self._save(table, FileRef(sweep, run_id, None), merged, [(name, t.num_rows) for name, t in pieces])
            self._remove(table, part_refs)

    def delete_run(self, sweep: str, run_id: str) -> None:
        """Remove every row and the status of ``run_id`` (a restart from scratch)."""
        check_names(sweep, run_id)
        for table in TABLES:
            self._remove(table, self._list(table, sweep, run_id))
        self._remove_status(sweep, run_id)

    def set_status(
        self,
        sweep: str,
        run_id: str,
        status: str,
        *,
        attempt: int,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        heartbeat: datetime | None = None,
    ) -> None:
        """Record ``run_id``'s status; ``heartbeat`` defaults to now (UTC)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
        check_names(sweep, run_id)
        if heartbeat is not None and heartbeat.utcoffset() is None:
            raise ValueError(f"heartbeat must be timezone-aware, got {heartbeat!r}")
        beat = heartbeat or datetime.now(timezone.utc)
        record = StatusRecord(run_id, status, attempt, beat, error, progress)
        self._put_status(sweep, run_id, record.to_json())

    # -------------------------------------------------------------- reading
    def read(self, table: str, sweep: str | None = None, run_id: str | None = None) -> Any:
        """The visible rows of ``table`` (all sweeps, one sweep, or one run), sorted."""
        if table not in TABLES:
            raise ValueError(f"table must be one of {TABLES}, got {table!r}")
        if sweep is not None:
            check_names(sweep, run_id)
        for attempt in range(_READ_RETRIES):
            try:
                return self._read_once(table, sweep, run_id)
            except FileNotFoundError:  # a compaction deleted a part we had listed: list again
                if attempt == _READ_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def list_runs(self, sweep: str) -> list[str]:
        """Every run of ``sweep`` with a status or any stored rows, sorted."""
        check_names(sweep)
        ids = set(self._status_texts(sweep))
        for table in TABLES:
            ids.update(r.run_id for r in self._list(table, sweep, None))
        return sorted(ids)

    def get_status(self, sweep: str) -> dict[str, StatusRecord]:
        """``{run_id: StatusRecord}`` for every run of ``sweep`` with a readable status.

        A status that does not parse (a truncated file) is left out: the run counts as
        pending, and `sweep.integrity.repair_sweep` reports and removes the file.
        """
        check_names(sweep)
        out = {}
        for run_id, text in sorted(self._status_texts(sweep).items()):
            with contextlib.suppress(ValueError, KeyError, TypeError):  # JSONDecodeError is a ValueError
                out[run_id] = StatusRecord.from_json(text)
        return out

    def run_status(self, sweep: str, run_id: str) -> StatusRecord | None:
        """``run_id``'s status alone (None: none, or unreadable, as `get_status` leaves it out).

        A run asks for its own status once at its start: reading every status of the sweep there
        would make a sweep of N runs read N² files."""
        check_names(sweep, run_id)
        text = self._status_text(sweep, run_id)
        if text is None:
            return None
        try:
            return StatusRecord.from_json(text)
        except (ValueError, KeyError, TypeError):  # JSONDecodeError is a ValueError
            return None

    def status_problems(self, sweep: str) -> dict[str, str]:
        """``{run_id: reason}`` for the statuses `get_status` leaves out."""
        check_names(sweep)
        problems = {}
        for run_id, text in sorted(self._status_texts(sweep).items()):
            try:
                StatusRecord.from_json(text)
            except (ValueError, KeyError, TypeError) as exc:
                problems[run_id] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return problems

    def last_complete_iteration(self, sweep: str, run_id: str) -> int | None:
        """The last iteration whose events (up to its ``reference_cost``) are stored."""
        events = self.read("events", sweep, run_id)
        its = events.filter(pc.equal(events["type"], type_name(ReferenceCostPayload)))["iteration"]
        return None if len(its) == 0 else int(pc.max(its).as_py())

    def events_for(self, sweep: str, run_id: str) -> list[Event]:
        """The stored events of ``run_id`` ordered by ``seq`` (what a resumed run replays)."""
        events = []
        for r in self.read("events", sweep, run_id).to_pylist():
            where = f"sweep {sweep}, run {run_id}, events seq {r['seq']}"
            try:
                payload = json.loads(r["payload_json"])
            except json.JSONDecodeError as exc:
                raise EventStreamError(f"payload_json is not JSON ({exc.msg})", source=where) from None
            stored = {"seq": r["seq"], "run_id": r["run_id"], "iteration": r["iteration"], "type": r["type"]}
            events.append(stored_event({**stored, "payload": payload}, where))
        return events

    # -------------------------------------------------------------- the rules
    def _read_once(self, table: str, sweep: str | None, run_id: str | None) -> Any:
        groups: dict[tuple[str, str], list[FileRef]] = {}
        for ref in self._list(table, sweep, run_id):
            groups.setdefault((ref.sweep, ref.run_id), []).append(ref)
        events = _EventParts(self, sweep, run_id)
        whole: list[FileRef] = []
        sliced: list[Any] = []
        for key in sorted(groups):
            compacted, parts = self._run_view(table, groups[key], events)
            whole.extend(parts.values())
            if compacted is None:
                continue
            if parts and {n for n, _ in self._index(table, compacted)} & parts.keys():
                sliced.extend(t for _, t in self._pieces(table, compacted, {}, skip=parts.keys()))
            else:
                whole.append(compacted)
        loaded = [self._load(table, whole)] if whole else []
        result = concat(table, loaded + sliced)
        keys = SORT_KEYS[table]
        return result.sort_by([(k, "ascending") for k in keys]).replace_schema_metadata(None)

    def _run_view(
        self, table: str, refs: Sequence[FileRef], events: _EventParts
    ) -> tuple[FileRef | None, dict[str, FileRef]]:
        """One run's compacted file (if any) and its visible (committed) part files by name."""
        compacted = next((r for r in refs if r.part is None), None)
        parts = {r.part: r for r in refs if r.part is not None}
        if parts and table in GATED_TABLES:
            committed = events.of(refs[0].sweep, refs[0].run_id)
            parts = {name: ref for name, ref in parts.items() if name in committed}
        return compacted, parts

    def _pieces(
        self, table: str, compacted: FileRef | None, parts: dict[str, FileRef], skip: Any = ()
    ) -> list[tuple[str, Any]]:
        """(part name, rows) of the run: compacted slices not overridden, then ``parts``."""
        overridden = set(parts) | set(skip)
        pieces: list[tuple[str, Any]] = []
        if compacted is not None:
            rows, start = self._load(table, [compacted]), 0
            # a compacted file without an index (not written by us) is one unnamed piece
            for name, n in self._index(table, compacted) or [("", rows.num_rows)]:
                if name not in overridden:
                    pieces.append((name, rows.slice(start, n)))
                start += n
        pieces.extend((name, self._load(table, [ref])) for name, ref in parts.items())
        return sorted(pieces, key=lambda p: p[0])


class _EventParts:
    """The part names a read's runs hold in the events table, listed once and only if needed.

    Only runs with uncompacted parts of a gated table ask; a compacted events file's index
    costs a footer read, so it is read per run on demand.
    """

    def __init__(self, store: PartStore, sweep: str | None, run_id: str | None) -> None:
        self.store, self.sweep, self.run_id = store, sweep, run_id
        self._refs: dict[tuple[str, str], list[FileRef]] | None = None

    def of(self, sweep: str, run_id: str) -> set[str]:
        if self._refs is None:
            self._refs = {}
            for ref in self.store._list("events", self.sweep, self.run_id):
                self._refs.setdefault((ref.sweep, ref.run_id), []).append(ref)
        names: set[str] = set()
        for ref in self._refs.get((sweep, run_id), []):
            if ref.part is None:
                names.update(n for n, _ in self.store._index("events", ref))
            else:
                names.add(ref.part)
        return names
