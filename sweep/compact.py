"""Sweep-level compaction: finished runs' files moved into a few batch files per table.

Every finished run leaves one compacted file per table (`PartStore.compact`), seven files a
run with its status: 70 000 files for 10 000 runs, which every reader has to open. This
module moves the runs' files into batch files (format and reading rules:
`sweep.batch_files`) of at most `MAX_RUNS_PER_BATCH` runs, and their status files into
status batches of at most `MAX_STATUSES_PER_BATCH` (`sweep.status_files`):

* during a sweep, whenever `COMPACT_EVERY` finished runs have files of their own
  (`Compactor`, called by the driver after each run);
* at the end of a sweep, everything finished, small batches merged (`compact_sweep`);
* for an existing output folder, ``paylab compact OUT`` (`compact_output`).

Each step is atomic for `ParquetStore` readers (and resume): a new batch is written whole
before anything it replaces is deleted, and a run's own file wins over a batch until then.
A crash leaves at worst files that hold the same rows twice, which no paylab reader counts
twice and which the next compaction (of a sweep, or ``paylab compact``) deletes first.
Plain readers (pyarrow, DuckDB, polars) see the same rows before and after a completed
compaction. Only runs whose status is ``done`` or ``failed`` are moved, and during a sweep
none that the sweep still has to run (``busy``: queued or in flight, a failed run being
retried included): a run in flight keeps its own files, and so never races its writer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from runner.experiment.status import RunStatus
from sweep.part_names import PartIndex
from sweep.schema_fit import fit, target_schema, unify
from sweep.status_files import status_batch_generation
from sweep.store import ParquetStore, ResultStore
from sweep.tables import SCHEMAS, TABLES

COMPACT_EVERY = 64  # finished runs with files of their own before a batch is made mid-sweep
MAX_RUNS_PER_BATCH = 250  # also what one compaction step holds in memory
MAX_STATUSES_PER_BATCH = 2_000  # ~1 MB of JSON
# Rows a batch file's row group holds: compaction holds one source file and this many rows,
# whatever the size of the sweep (readers gain little from larger groups).
ROW_GROUP_ROWS = 50_000
FINISHED = (RunStatus.DONE, RunStatus.FAILED)


@dataclass(frozen=True)
class CompactionReport:
    """Table and status files of the sweep(s) before and after, and how many run slices moved."""

    files_before: int
    files_after: int
    runs_moved: int
    status_files_before: int = 0
    status_files_after: int = 0


def status_files(store: ParquetStore, sweep: str) -> int:
    """The status files of ``sweep`` (runs' own and batches)."""
    return sum(1 for info in store._files_in(store._status_dir(sweep)) if not info.base_name.startswith("."))


def table_files(store: ParquetStore, sweep: str) -> int:
    """The Parquet files a plain reader opens for ``sweep`` (every table)."""
    return sum(
        1
        for table in TABLES
        for info in store._files_in(store._dir(table, sweep))
        if info.base_name.endswith(".parquet") and not info.base_name.startswith(".")
    )


def compact_sweep(
    store: ResultStore,
    sweep: str,
    *,
    final: bool = True,
    every: int = COMPACT_EVERY,
    busy: Collection[str] = (),
) -> CompactionReport:
    """Move ``sweep``'s finished runs into batch files (see the module docstring).

    ``final`` also merges small batches and moves any number of runs; otherwise a table (and
    the statuses) is compacted only once ``every`` runs are waiting. Runs in ``busy`` are left
    alone. Stores other than `ParquetStore` keep their files as they are.
    """
    if not isinstance(store, ParquetStore):
        return CompactionReport(0, 0, 0)
    before, statuses_before = table_files(store, sweep), status_files(store, sweep)
    own = store.own_status_texts(sweep)  # read once: the tables' step and the statuses' step
    statuses = store.get_status(sweep)
    finished = {run_id for run_id, s in statuses.items() if s.status in FINISHED and run_id not in busy}
    moved = 0
    for table in TABLES:
        try:
            moved += _compact_table(store, table, sweep, finished, final, every)
        except (OSError, pa.ArrowException):  # a damaged file: left for `sweep.integrity` to report
            continue
    # statuses last: a run's status moves once its rows have (not needed for consistency, as
    # each step is atomic on its own, but a crash in between then leaves the fewest files)
    _compact_statuses(store, sweep, {r: t for r, t in own.items() if r in finished}, final, every)
    return CompactionReport(before, table_files(store, sweep), moved, statuses_before, status_files(store, sweep))


def _compact_statuses(store: ParquetStore, sweep: str, loose: dict[str, str], final: bool, every: int) -> None:
    """Fold the finished runs' own status files (``loose``: their texts) into status batches.

    Same steps as a table's: what an interrupted compaction left is deleted first; a new
    batch is written before the own files (only if they still hold the text it copied) and
    the small or stale batches it replaces are deleted. Unlike table batches, small status
    batches are packed during a sweep too: rewriting at most `MAX_STATUSES_PER_BATCH`
    statuses is cheap, and a long sweep then keeps a few status batches, not one per step.
    """
    batches = store.status_batches(sweep)
    held = [store.status_batch(sweep, name) for name in batches]
    newest: dict[str, str] = {}
    for texts in held:  # oldest first: the newest wins
        newest.update(texts)
    for run_id, text in list(loose.items()):  # left by an interrupted compaction: batched already
        if newest.get(run_id) == text:
            store._delete_status_file(sweep, run_id)
            del loose[run_id]
    serves: list[set[str]] = []
    seen: set[str] = set()
    for texts in reversed(held):  # newest first: what a batch serves, no newer batch holds
        serves.insert(0, set(texts) - seen)
        seen.update(texts)
    for name, served in zip(batches, serves, strict=True):
        if not served:  # every status it holds has a newer copy
            store.delete_status_batch(sweep, name)
    live = {name: (texts, served) for name, texts, served in zip(batches, held, serves, strict=True) if served}
    small = {name for name, (texts, _) in live.items() if len(texts) < MAX_STATUSES_PER_BATCH}
    # small batches are packed whenever statuses are batched (they are small: the count of
    # status batches stays bounded during a long sweep too), and at the end in any case
    pack = (final or len(loose) >= every) and (len(small) > 1 or bool(small and loose))
    # rewritten: the batches holding stale copies, and the small ones when packing
    merge = [name for name, (texts, served) in live.items() if served != set(texts) or (pack and name in small)]
    if not merge and (not loose or (not final and len(loose) < every)):
        return
    texts = {r: live[name][0][r] for name in merge for r in live[name][1] if r not in loose} | loose
    generation = max((status_batch_generation(n) or 0 for n in batches), default=0)
    ordered = sorted(texts)
    for start in range(0, len(ordered), MAX_STATUSES_PER_BATCH):
        generation += 1
        store.write_status_batch(
            sweep, generation, {r: texts[r] for r in ordered[start : start + MAX_STATUSES_PER_BATCH]}
        )
    for run_id, text in loose.items():  # only now, and only a file still holding what was copied
        if store._own_status_text(sweep, run_id) == text:
            store._delete_status_file(sweep, run_id)
    for name in merge:
        store.delete_status_batch(sweep, name)


def _finish_interrupted(store: ParquetStore, table: str, sweep: str) -> None:
    """Delete what an interrupted compaction left behind: copies a newer batch holds."""
    batches = store.batches(table, sweep)
    newest = {rid: run for b in batches for rid, run in b.runs.items()}  # oldest first: newest wins
    for ref in store._list(table, sweep, None):
        held = newest.get(ref.run_id)
        if (
            ref.part is None
            and ref.batch is None
            and held is not None
            and held.token is not None
            and held.token == store.run_file_token(table, ref)
        ):
            store._remove(table, [ref])  # the batch holds exactly this file's rows
    serving = {r.batch for r in store._list(table, sweep, None) if r.batch is not None}
    for batch in batches:
        if batch.name not in serving:  # every run it holds has a newer copy
            store.delete_batch(table, sweep, batch.name)


def _compact_table(store: ParquetStore, table: str, sweep: str, finished: set[str], final: bool, every: int) -> int:
    _finish_interrupted(store, table, sweep)
    refs = store._list(table, sweep, None)
    in_flight = {r.run_id for r in refs if r.part is not None}
    loose = [
        r for r in refs if r.part is None and r.batch is None and r.run_id in finished and r.run_id not in in_flight
    ]
    serving: dict[str, set[str]] = {}
    for r in refs:
        if r.batch is not None:
            serving.setdefault(r.batch, set()).add(r.run_id)
    batches = store.batches(table, sweep)
    stale = [b for b in batches if set(b.runs) != serving.get(b.name, set())]  # hold replaced runs
    small = [b for b in batches if b.name in serving and len(serving[b.name]) < MAX_RUNS_PER_BATCH]
    merge = {b.name: b for b in stale}
    if final and (len(small) > 1 or (small and loose)):
        merge.update((b.name, b) for b in small)
    if not merge and (not loose or (not final and len(loose) < every)):
        return 0
    generation = max((b.generation for b in batches), default=0)
    plan = [
        (source, entry) for source in _sources(loose, merge) for entry in _entries(store, table, sweep, source, serving)
    ]
    schema = _schema(store, table, sweep, [source for source, _ in plan])
    for start in range(0, len(plan), MAX_RUNS_PER_BATCH):
        generation += 1
        _write(store, table, sweep, generation, schema, plan[start : start + MAX_RUNS_PER_BATCH])
    store._remove(table, loose)  # only now: until here the run files win and hold the same rows
    for name in merge:
        store.delete_batch(table, sweep, name)
    return len(plan)


Source = tuple[str, Any]  # ("run", a run's own FileRef) or ("batch", a batch name)
Entry = tuple[str, str | None, PartIndex, int]  # run id, file token, parts, row offset in its source


def _sources(loose: Sequence[Any], merge: dict[str, Any]) -> list[Source]:
    return [("run", ref) for ref in sorted(loose, key=lambda r: r.run_id)] + [("batch", n) for n in sorted(merge)]


def _source_path(store: ParquetStore, table: str, sweep: str, source: Source) -> str:
    kind, what = source
    return store._path(table, what) if kind == "run" else f"{store._dir(table, sweep)}/{what}"


def _entries(store: ParquetStore, table: str, sweep: str, source: Source, serving: dict[str, set[str]]) -> list[Entry]:
    """The runs one source serves, in order, from its footer alone (no rows read)."""
    kind, what = source
    if kind == "run":
        index = store._index(table, what)
        if not index:  # a file not written by us: one unnamed piece
            with store._fs.open_input_file(_source_path(store, table, sweep, source)) as f:
                index = [("", pq.read_metadata(f).num_rows)]
        return [(what.run_id, store.run_file_token(table, what), index, 0)]
    runs = store.batch(table, sweep, what).runs
    return [(rid, runs[rid].token, runs[rid].parts, runs[rid].offset) for rid in sorted(serving.get(what, set()))]


def _schema(store: ParquetStore, table: str, sweep: str, sources: Sequence[Source]) -> Any:
    """The batch files' schema: the table's, for ``runs`` with every source's ``param_*``."""
    if table != "runs":
        return SCHEMAS[table].remove(SCHEMAS[table].get_field_index("sweep"))
    schemas = []
    for source in dict.fromkeys(sources):
        with store._fs.open_input_file(_source_path(store, table, sweep, source)) as f:
            schemas.append(pq.read_schema(f))
    target = target_schema(table, unify(schemas))
    return target.remove(target.get_field_index("sweep"))


def _write(store: ParquetStore, table: str, sweep: str, generation: int, schema: Any, group: list[Any]) -> None:
    """One batch of the runs in ``group`` (their sources read one at a time, in order)."""

    def chunks() -> Iterator[Any]:
        loaded: tuple[Source, Any] | None = None
        pending: list[Any] = []
        rows = 0
        for source, (_, _, parts, offset) in group:
            if loaded is None or loaded[0] != source:
                path = _source_path(store, table, sweep, source)
                with store._fs.open_input_file(path) as f:
                    loaded = (source, pq.read_table(f).replace_schema_metadata(None))
            n = sum(k for _, k in parts)
            pending.append(fit(loaded[1].slice(offset, n), schema))
            rows += n
            if rows >= ROW_GROUP_ROWS:
                yield pa.concat_tables(pending)
                pending, rows = [], 0
        if pending or not group:
            yield pa.concat_tables(pending) if pending else schema.empty_table()

    store.write_batch(
        table, sweep, generation, schema, chunks(), [(rid, tok, parts) for _, (rid, tok, parts, _) in group]
    )


class Compactor:
    """Compacts a sweep while it runs: after each finished run, once enough are waiting.

    ``to_run``: the runs this sweep runs; each is left alone until its outcome is in.
    """

    def __init__(self, store: ResultStore, sweep: str, to_run: Sequence[str] = (), every: int | None = None) -> None:
        self.store, self.sweep, self.every = store, sweep, every or COMPACT_EVERY
        self.busy = set(to_run)
        self._finished = 0

    def wrap(self, on_update: Callable[[Any], None] | None) -> Callable[[Any], None]:
        """``on_update`` that also counts finished runs and compacts every ``every`` of them."""

        def update(outcome: Any) -> None:
            if outcome is not None:
                self._finished += 1
                self.busy.discard(outcome.run_id)
                if self._finished % self.every == 0:
                    compact_sweep(self.store, self.sweep, final=False, every=self.every, busy=self.busy)
            if on_update is not None:
                on_update(outcome)

        return update


def compact_output(root: str, sweeps: Sequence[str] | None = None) -> dict[str, CompactionReport]:
    """``paylab compact``: every sweep of the output folder ``root`` (or ``sweeps``)."""
    store = ParquetStore(root)
    names = sweeps or sorted({ref.sweep for table in TABLES for ref in store._list(table, None, None)})
    return {name: compact_sweep(store, name) for name in names}
