"""Where a sweep's rows live: the `ResultStore` interface and its two backends.

`MemoryStore` (tests, debugging) and `ParquetStore` (a local folder or any pyarrow filesystem
URI: ``file://``, ``s3://``, ``gs://``…) share every rule through `sweep.store_base.PartStore`
and pass one contract test (``tests/sweep/test_store.py``).

On-disk layout of a `ParquetStore` (for users: docs/sweeps.md, "The Parquet dataset")::

    <root>/<table>/sweep=<sweep>/<run_id>~<part>.parquet   rows of one part ("it-00003", "final")
    <root>/<table>/sweep=<sweep>/<run_id>.parquet          a run's compacted rows
    <root>/<table>/sweep=<sweep>/~batch-<gen>-<tag>.parquet  many finished runs' rows (sweep.batch_files)
    <root>/_status/sweep=<sweep>/<run_id>.json             status, attempt, heartbeat, progress
    <root>/_status/sweep=<sweep>/~batch-<gen>-<tag>.json   many finished runs' statuses (sweep.status_files)

``<table>`` is one of runs, iterations, proposals, samples, llm_calls, events. The ``sweep``
column is not stored in the files: hive partitioning supplies it from the folder name.
('~' separates run id and part because run ids and part names both contain '-' and '.'.)

Atomicity and de-duplication:

* Every file is written under a hidden temp name (``.<name>.<uuid>.tmp``) in its folder and
  renamed into place: a reader never sees a partial file, and pyarrow, DuckDB and polars skip
  the temp names. On object stores the rename is a copy, but objects appear whole anyway.
* Writing a part again replaces it, so a retried iteration never duplicates rows.
* An iteration is all-or-nothing for readers of this module: `sweep.sink.StoreSink` writes
  the ``events`` part last, and the other event tables' parts count only once the events
  table holds the same part (`last_complete_iteration` is read from the events table too).
  A crash between tables leaves orphan parts, invisible, which the resumed run's next write
  of the same part name replaces and compaction deletes.
* `PartStore.compact` writes the merged file (listing the parts it holds), then deletes
  the parts. If a crash leaves both, `read` takes each listed part once; compacting again is
  safe. A part written after compaction (a resumed or retried run) overrides its slice.

Reading with other tools: ``pyarrow.dataset.dataset(f"{root}/runs", partitioning="hive")``,
``duckdb.read_parquet(f"{root}/runs/*/*.parquet", hive_partitioning=true,
union_by_name=true)`` or ``polars.scan_parquet(..., hive_partitioning=True)`` read the files
as they are. They apply none of the rules above, which matter only while runs are in flight
or after a crash; and plain pyarrow takes the schema of the first file, so a column that
other sweeps lack (``param_*``) needs an explicit schema there. `ResultStore.read` does both.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from runner.experiment.events import Event
from sweep.batch_files import TOKEN_KEY, BatchFiles, batch_generation
from sweep.part_names import FileRef, PartIndex, file_name, parse_file_name
from sweep.schema_fit import concat, unify
from sweep.status_files import StatusFiles
from sweep.store_base import PartStore, StatusRecord
from sweep.tables import SCHEMAS, TABLES

__all__ = ["MemoryStore", "ParquetStore", "ResultStore", "StatusRecord", "open_store"]

_INDEX_KEY = b"paylab.parts"
_SWEEP_FIELD = pa.schema([("sweep", pa.string())])


class ResultStore(Protocol):
    """The rows and run statuses of sweeps (semantics: this module's docstring).

    Example:
        >>> store = MemoryStore()
        >>> store.set_status("demo", "run-1", "running", attempt=1)
        >>> store.get_status("demo")["run-1"].status
        'running'
    """

    def write_part(self, table: str, sweep: str, run_id: str, part: str, data: Any) -> None:
        """Store ``data`` as part ``part`` of ``run_id``'s rows of ``table``, replacing it."""

    def compact(self, sweep: str, run_id: str) -> None:
        """Merge each table's parts of ``run_id`` into one file (idempotent, crash-safe)."""

    def read(self, table: str, sweep: str | None = None, run_id: str | None = None) -> Any:
        """Visible rows of ``table`` as a `pyarrow.Table`, de-duplicated and sorted."""

    def delete_run(self, sweep: str, run_id: str) -> None:
        """Remove every row and the status of ``run_id``."""

    def list_runs(self, sweep: str) -> list[str]:
        """Run ids of ``sweep`` with a status or stored rows, sorted."""

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
        """Record the status of ``run_id`` with a heartbeat (default: now, UTC)."""

    def get_status(self, sweep: str) -> dict[str, StatusRecord]:
        """``{run_id: StatusRecord}`` of ``sweep``."""

    def run_status(self, sweep: str, run_id: str) -> StatusRecord | None:
        """The status of ``run_id`` alone (None if it has none)."""

    def last_complete_iteration(self, sweep: str, run_id: str) -> int | None:
        """The last iteration of ``run_id`` whose rows are all stored (None: none yet)."""

    def events_for(self, sweep: str, run_id: str) -> list[Event]:
        """The stored events of ``run_id`` ordered by ``seq``."""


def open_store(root: str) -> ResultStore:
    """The store at ``root`` (a local path or a pyarrow filesystem URI)."""
    return ParquetStore(root)


class MemoryStore(PartStore):
    """A store in this process's memory: same rules as `ParquetStore`, nothing on disk."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, FileRef], tuple[Any, PartIndex | None]] = {}
        self._statuses: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()  # a heartbeat thread writes statuses while a run writes rows

    def _list(self, table: str, sweep: str | None, run_id: str | None) -> list[FileRef]:
        with self._lock:
            return [
                ref
                for (t, ref) in self._files
                if t == table and sweep in (None, ref.sweep) and run_id in (None, ref.run_id)
            ]

    def _load(self, table: str, refs: Sequence[FileRef]) -> Any:
        with self._lock:
            missing = [r for r in refs if (table, r) not in self._files]
            if missing:
                raise FileNotFoundError(f"{table}: {missing[0]}")
            stored = [(r.sweep, self._files[(table, r)][0]) for r in refs]
        return concat(table, [t.append_column("sweep", pa.array([s] * t.num_rows, pa.string())) for s, t in stored])

    def _index(self, table: str, ref: FileRef) -> PartIndex:
        with self._lock:
            if (table, ref) not in self._files:
                raise FileNotFoundError(f"{table}: {ref}")
            return list(self._files[(table, ref)][1] or [])

    def _save(self, table: str, ref: FileRef, data: Any, index: PartIndex | None) -> None:
        with self._lock:
            self._files[(table, ref)] = (data, index)

    def _remove(self, table: str, refs: Sequence[FileRef]) -> None:
        with self._lock:
            for ref in refs:
                self._files.pop((table, ref), None)

    def _put_status(self, sweep: str, run_id: str, text: str) -> None:
        with self._lock:
            self._statuses[(sweep, run_id)] = text

    def _status_texts(self, sweep: str) -> dict[str, str]:
        with self._lock:
            return {r: text for (s, r), text in self._statuses.items() if s == sweep}

    def _status_text(self, sweep: str, run_id: str) -> str | None:
        with self._lock:
            return self._statuses.get((sweep, run_id))

    def _remove_status(self, sweep: str, run_id: str) -> None:
        with self._lock:
            self._statuses.pop((sweep, run_id), None)


class ParquetStore(BatchFiles, StatusFiles, PartStore):
    """Parquet files under ``root``: a local path or a pyarrow filesystem URI.

    Paths inside the filesystem are always '/'-joined strings (never `os.path`), so the same
    code serves local folders and object stores. Pickles as its root (for Ray actors): a
    relative local root is made absolute first.

    Example:
        >>> store = ParquetStore("results/")  # doctest: +SKIP
        >>> store.read("runs", sweep="castro_models").to_pandas()  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        text = os.fspath(root)
        if "://" in text:
            self._fs, path = pafs.FileSystem.from_uri(text)
            self.root = text
        else:
            self._fs, path = pafs.LocalFileSystem(), Path(text).expanduser().resolve().as_posix()
            self.root = path
        self._base = path.rstrip("/")
        self._batch_cache = {}
        self._status_batch_cache = {}
        self.repaired: set[str] = set()  # sweeps `sweep.integrity.repair_sweep` checked through this object

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return ParquetStore, (self.root,)

    def __repr__(self) -> str:
        return f"ParquetStore({self.root!r})"

    # ------------------------------------------------------------------ paths
    def _dir(self, table: str, sweep: str) -> str:
        return f"{self._base}/{table}/sweep={sweep}"

    def _path(self, table: str, ref: FileRef) -> str:
        return f"{self._dir(table, ref.sweep)}/{file_name(ref)}"

    def _atomic(self, folder: str, name: str, write: Callable[[str], None]) -> None:
        """Write through a hidden temp file in ``folder`` renamed to ``name`` when complete."""
        self._fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
        try:
            write(tmp)
            self._fs.move(tmp, f"{folder}/{name}")
        except BaseException:
            with contextlib.suppress(OSError):
                self._fs.delete_file(tmp)
            raise

    def _files_in(self, folder: str) -> list[Any]:
        infos = self._fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        return [i for i in infos if i.type == pafs.FileType.File]

    # ------------------------------------------------------------------ primitives
    def _list(self, table: str, sweep: str | None, run_id: str | None) -> list[FileRef]:
        if sweep is not None:
            sweeps = [sweep]
        else:
            selector = pafs.FileSelector(f"{self._base}/{table}", allow_not_found=True)
            infos = self._fs.get_file_info(selector)
            sweeps = [
                i.base_name[len("sweep=") :]
                for i in infos
                if i.type == pafs.FileType.Directory and i.base_name.startswith("sweep=")
            ]
        refs = []
        for s in sorted(sweeps):
            found, batch_names = [], []
            for info in self._files_in(self._dir(table, s)):
                ref = parse_file_name(s, info.base_name)
                if ref is not None and run_id in (None, ref.run_id):
                    found.append(ref)
                elif ref is None and batch_generation(info.base_name) is not None:
                    batch_names.append(info.base_name)
            # a batched run: from the newest batch listing it, unless it has a file of its own
            served = {r.run_id for r in found if r.part is None}
            for batch in reversed(self.batches(table, s, batch_names)):
                for rid in batch.runs:
                    if rid not in served and run_id in (None, rid):
                        served.add(rid)
                        found.append(FileRef(s, rid, None, batch.name))
            refs.extend(found)
        return refs

    def _load(self, table: str, refs: Sequence[FileRef]) -> Any:
        own = [r for r in refs if r.batch is None]
        pieces = [self._load_own(table, own)] if own or not refs else []
        by_batch: dict[tuple[str, str], list[str]] = {}
        for ref in refs:
            if ref.batch is not None:
                by_batch.setdefault((ref.sweep, ref.batch), []).append(ref.run_id)
        for (sweep, name), run_ids in by_batch.items():
            runs, data = self.batch(table, sweep, name).runs, self.load_batch(table, sweep, name)
            if len(run_ids) < len(runs):  # one take of the wanted runs' rows, not a slice per run
                data = data.take(
                    pa.array(
                        [i for rid in run_ids for i in range(runs[rid].offset, runs[rid].offset + runs[rid].rows)],
                        pa.int64(),
                    )
                )
            pieces.append(data.append_column("sweep", pa.array([sweep] * data.num_rows, pa.string())))
        return pieces[0] if len(pieces) == 1 else concat(table, pieces)

    def _load_own(self, table: str, refs: Sequence[FileRef]) -> Any:
        partitioning = ds.partitioning(_SWEEP_FIELD, flavor="hive")
        options: dict[str, Any] = {
            "filesystem": self._fs,
            "format": "parquet",
            "partitioning": partitioning,
            "partition_base_dir": f"{self._base}/{table}",
        }
        paths = [self._path(table, r) for r in refs]
        if table == "runs":  # param_* columns differ between sweeps: unify every file's schema
            found = ds.dataset(paths, **options)
            schema = unify([f.physical_schema for f in found.get_fragments()] + [_SWEEP_FIELD])
        else:
            schema = SCHEMAS[table]
        return ds.dataset(paths, schema=schema, **options).to_table()

    def _index(self, table: str, ref: FileRef) -> PartIndex:
        if ref.batch is not None:
            return list(self.batch(table, ref.sweep, ref.batch).runs[ref.run_id].parts)
        with self._fs.open_input_file(self._path(table, ref)) as f:
            metadata = pq.read_schema(f).metadata or {}
        return [(str(name), int(n)) for name, n in json.loads(metadata.get(_INDEX_KEY, b"[]"))]

    def _save(self, table: str, ref: FileRef, data: Any, index: PartIndex | None) -> None:
        metadata = (
            {_INDEX_KEY: json.dumps(index).encode(), TOKEN_KEY: uuid.uuid4().hex.encode()}
            if index is not None
            else None
        )
        rows = data.replace_schema_metadata(metadata)
        self._atomic(
            self._dir(table, ref.sweep),
            file_name(ref),
            lambda tmp: pq.write_table(rows, tmp, filesystem=self._fs, write_page_checksum=True),
        )

    def _remove(self, table: str, refs: Sequence[FileRef]) -> None:
        batched: dict[tuple[str, str], set[str]] = {}
        for ref in refs:
            if ref.batch is not None:
                batched.setdefault((ref.sweep, ref.batch), set()).add(ref.run_id)
                continue
            with contextlib.suppress(FileNotFoundError):
                self._fs.delete_file(self._path(table, ref))
        for (sweep, name), run_ids in batched.items():
            self.drop_from_batch(table, sweep, name, run_ids)

    def run_file_token(self, table: str, ref: FileRef) -> str | None:
        """The token a run's own compacted file was saved with (None: none, or not ours)."""
        with self._fs.open_input_file(self._path(table, ref)) as f:
            token = (pq.read_schema(f).metadata or {}).get(TOKEN_KEY)
        return token.decode() if token else None

    def compact(self, sweep: str, run_id: str) -> None:
        """`PartStore.compact`, then delete the run's temp files that a killed writer left.

        A writer killed between creating its hidden temp file and renaming it (SIGKILL, a
        dead node) leaves ``.<run_id>~<part>.parquet.<uuid>.tmp`` in the table's folder.
        Readers skip such files; the run's own compaction (by its only writer, when it ends,
        its heartbeat stopped) removes them, and those of its status file, so crashes leave
        no garbage behind.
        """
        super().compact(sweep, run_id)
        folders = [self._dir(table, sweep) for table in TABLES] + [self._status_dir(sweep)]
        for folder in folders:
            for info in self._files_in(folder):
                name = info.base_name  # "." + file name + "." + uuid hex + ".tmp" (see _atomic)
                if not (name.startswith(".") and name.endswith(".tmp")):
                    continue
                target = name[1 : -len(".tmp")].rpartition(".")[0]
                ref = parse_file_name(sweep, target)
                if target == f"{run_id}.json" or (ref is not None and ref.run_id == run_id):
                    with contextlib.suppress(FileNotFoundError):
                        self._fs.delete_file(info.path)
