"""Batch files: the compacted rows of many finished runs of one table in one Parquet file.

A finished run's rows of a table first live in ``<run_id>.parquet`` (`PartStore.compact`).
`sweep.compact` later moves many such files into one ``~batch-<generation>-<tag>.parquet``
in the same folder, so a sweep of 10 000 runs is a few dozen files per table instead of
10 000. A batch lists the runs it holds, in row order, with each run's part index and the
token of the run file it was made from (``paylab.runs`` in its Parquet metadata), so that
`ParquetStore` serves a batched run exactly as it served its run file:

* **Which copy counts.** A run's own ``<run_id>.parquet`` wins over any batch; among
  batches, the newest generation that lists the run wins. A run retried after it was
  batched writes parts and a new run file, which then win over the batch's stale slice.
* **Atomic moves.** A batch is written (temp file + rename) before the files it replaces are
  deleted. A crash in between leaves both: the run files still win, and they hold the same
  rows the batch copied (same token), so nothing counts twice or goes missing; the next
  compaction deletes them. Old batches whose runs all moved to a newer batch are deleted.
* Plain readers (pyarrow, DuckDB, polars) see every file: they see each row once whenever
  no compaction is half-done and no run is in flight, as after any finished sweep.

The names start with ``~``, which no run id does (so `parse_file_name` skips them) and which
pyarrow, DuckDB and polars do not treat as hidden.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sweep.part_names import FileRef, PartIndex

BATCH_PREFIX = "~batch-"
RUNS_KEY = b"paylab.runs"  # a batch's [[run_id, token, [[part, rows], ...]], ...]
TOKEN_KEY = b"paylab.token"  # a run file's identity: which copy a batch was made from


@dataclass(frozen=True)
class BatchRun:
    """One run's slice of a batch file."""

    run_id: str
    token: str | None
    parts: PartIndex
    offset: int

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.parts)


@dataclass(frozen=True)
class Batch:
    """A batch file's name and the runs it holds, in row order."""

    name: str
    runs: dict[str, BatchRun]

    @property
    def generation(self) -> int:
        return batch_generation(self.name) or 0


def batch_generation(name: str) -> int | None:
    """The generation in a batch file's name; None if ``name`` is not a batch file's."""
    if not (name.startswith(BATCH_PREFIX) and name.endswith(".parquet")):
        return None
    gen = name[len(BATCH_PREFIX) :].split("-", 1)[0]
    return int(gen) if gen.isdigit() else None


def new_batch_name(generation: int) -> str:
    """A fresh batch name; the random tag keeps a name from ever being reused."""
    return f"{BATCH_PREFIX}{generation:06d}-{uuid.uuid4().hex[:8]}.parquet"


def encode_runs(entries: Sequence[tuple[str, str | None, PartIndex]]) -> bytes:
    return json.dumps([[run_id, token, [list(p) for p in parts]] for run_id, token, parts in entries]).encode()


def decode_runs(raw: bytes) -> dict[str, BatchRun]:
    runs, offset = {}, 0
    for run_id, token, parts in json.loads(raw):
        index = [(str(name), int(n)) for name, n in parts]
        runs[str(run_id)] = BatchRun(str(run_id), token, index, offset)
        offset += sum(n for _, n in index)
    return runs


class BatchFiles:
    """The batch-file primitives of `sweep.store.ParquetStore` (a mixin: it needs ``_fs``,
    ``_dir``, ``_atomic`` and ``_files_in``)."""

    _fs: Any
    _batch_cache: dict[str, Batch]

    def _dir(self, table: str, sweep: str) -> str: ...  # type: ignore[empty-body]
    def _atomic(self, folder: str, name: str, write: Any) -> None: ...
    def _files_in(self, folder: str) -> list[Any]: ...  # type: ignore[empty-body]
    def _list(self, table: str, sweep: str | None, run_id: str | None) -> list[FileRef]: ...  # type: ignore[empty-body]

    def batch(self, table: str, sweep: str, name: str) -> Batch:
        """The batch ``name`` (its run list read once: batch files never change)."""
        path = f"{self._dir(table, sweep)}/{name}"
        found = self._batch_cache.get(path)
        if found is None:
            with self._fs.open_input_file(path) as f:
                metadata = pq.read_schema(f).metadata or {}
            found = self._batch_cache[path] = Batch(name, decode_runs(metadata.get(RUNS_KEY, b"[]")))
        return found

    def batches(self, table: str, sweep: str, names: Sequence[str] | None = None) -> list[Batch]:
        """The batches of a table's sweep folder (``names``: all of them, as listed), oldest
        generation first."""
        folder = self._dir(table, sweep)
        if names is None:
            names = [i.base_name for i in self._files_in(folder) if batch_generation(i.base_name) is not None]
        # forget the batches another process deleted since: a long-lived store (a run actor's)
        # must not keep every batch a sweep ever made
        listed = {f"{folder}/{n}" for n in names}
        for path in [p for p in self._batch_cache if p.rsplit("/", 1)[0] == folder and p not in listed]:
            del self._batch_cache[path]
        return sorted((self.batch(table, sweep, n) for n in names), key=lambda b: (b.generation, b.name))

    def load_batch(self, table: str, sweep: str, name: str) -> Any:
        """Every row of a batch file (no ``sweep`` column)."""
        with self._fs.open_input_file(f"{self._dir(table, sweep)}/{name}") as f:
            return pq.read_table(f).replace_schema_metadata(None)

    def write_batch(
        self,
        table: str,
        sweep: str,
        generation: int,
        schema: Any,
        chunks: Iterable[Any],
        entries: Sequence[tuple[str, str | None, PartIndex]],
    ) -> str:
        """Store the rows of ``entries``' runs, in that order, as a new batch; its name.

        ``chunks`` (tables of ``schema``) are written one row group at a time as they come,
        so a batch of many runs is never held in memory whole.
        """
        name = new_batch_name(generation)
        with_runs = schema.with_metadata({RUNS_KEY: encode_runs(entries)})

        def write(tmp: str) -> None:
            with pq.ParquetWriter(tmp, with_runs, filesystem=self._fs, write_page_checksum=True) as writer:
                for chunk in chunks:
                    writer.write_table(chunk.replace_schema_metadata(with_runs.metadata))

        self._atomic(self._dir(table, sweep), name, write)
        return name

    def delete_batch(self, table: str, sweep: str, name: str) -> None:
        path = f"{self._dir(table, sweep)}/{name}"
        self._batch_cache.pop(path, None)
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(path)

    def drop_from_batch(self, table: str, sweep: str, name: str, run_ids: set[str]) -> None:
        """Remove runs from a batch: rewrite it without them (a new generation), then delete it.

        A batch that no longer reads is deleted whole: its rows are lost anyway.
        """
        try:
            batch = self.batch(table, sweep, name)
            data = self.load_batch(table, sweep, name)
        except (OSError, pa.ArrowException):
            self.delete_batch(table, sweep, name)
            return
        # only the runs this batch still serves: a stale slice must not come back as newest
        live = {ref.run_id for ref in self._list(table, sweep, None) if ref.batch == name}
        keep = [r for r in batch.runs.values() if r.run_id in live - run_ids]
        if keep:
            newest = max(b.generation for b in self.batches(table, sweep))
            rows = pa.concat_tables([data.slice(r.offset, r.rows) for r in keep])
            self.write_batch(
                table, sweep, newest + 1, rows.schema, [rows], [(r.run_id, r.token, r.parts) for r in keep]
            )
        self.delete_batch(table, sweep, name)
