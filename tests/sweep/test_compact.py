"""Sweep-level compaction (`sweep.compact`): fewer files, the same rows for every reader, atomic.

Readers compared before and after: `ResultStore.read`, pyarrow's dataset, DuckDB, polars and
the `paylab analyze` report. Atomicity: compaction is killed after each of its durable steps
(`tests.sweep.killpoints`), and at every point `ResultStore.read` must give the rows of
before; compacting again must then leave exactly the files (and plain-reader rows) of an
uninterrupted compaction.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import sweep.compact
import sweep.driver
from sweep.analysis import analyze_results
from sweep.compact import compact_sweep, table_files
from sweep.driver import plan, run_sweep
from sweep.expand import RunSpec
from sweep.spec import check_sweep_file
from sweep.store import ParquetStore
from sweep.tables import SORT_KEYS, TABLES
from tests.sweep.helpers_e2e import CASTRO, paylab, write_sweep
from tests.sweep.killpoints import Killed, KillingStore

NAME = "compaction"
SMALL = (
    "evaluation.num_samples=4",
    "evaluation.reference_samples=4",
    "evaluation.context_days=1",
    "convergence.max_iterations=2",
)


def _sorted_rows(table: Any, name: str) -> list[dict[str, Any]]:
    keys = [k for k in SORT_KEYS[name] if k in table.column_names]
    return table.sort_by([(k, "ascending") for k in keys]).to_pylist()


def plain_rows(out: Path, name: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of table ``name`` as pyarrow, DuckDB and polars read the files as they are."""
    import duckdb
    import polars as pl

    glob = f"{out}/{name}/*/*.parquet"
    schema = ParquetStore(out).read(name, NAME).schema
    found = {
        "pyarrow": _sorted_rows(
            ds.dataset(out / name, format="parquet", partitioning="hive", schema=schema).to_table(), name
        )
    }
    con = duckdb.connect()
    found["duckdb"] = _sorted_rows(
        con.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning=true, union_by_name=true)").arrow().read_all(),
        name,
    )
    found["polars"] = _sorted_rows(pl.scan_parquet(glob, hive_partitioning=True).collect().to_arrow(), name)
    return {k: [{c: v for c, v in r.items() if c in schema.names} for r in rows] for k, rows in found.items()}


def snapshot(out: Path) -> dict[str, Any]:
    store = ParquetStore(out)
    return {
        "store": {t: store.read(t, NAME).to_pylist() for t in TABLES},
        "statuses": store.get_status(NAME),
        "plain": {t: plain_rows(out, t) for t in TABLES},
        "analyze": analyze_results(store, NAME, ["scenario", "model"], "json"),
    }


@pytest.fixture(scope="module")
def sweep_cells(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[RunSpec]]:
    folder = tmp_path_factory.mktemp("compaction")
    return check_sweep_file(
        write_sweep(folder, name=NAME, experiments=CASTRO, replicates=1), [*SMALL, f"output={folder}"]
    )


@pytest.fixture(scope="module")
def uncompacted(sweep_cells: tuple[Any, list[RunSpec]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 finished runs, each with its own files (the sweep's own compaction switched off)."""
    spec, cells = sweep_cells
    out = tmp_path_factory.mktemp("compaction") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweep.driver, "compact_sweep", lambda *a, **k: None)
        mp.setattr(sweep.compact, "COMPACT_EVERY", 10**9)
        run_sweep(spec, cells, ParquetStore(out), str(out), executor="local")
    return out


@pytest.fixture()
def out(uncompacted: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(uncompacted, copy)
    return copy


def test_compaction_keeps_every_row_for_every_reader_with_far_fewer_files(out: Path) -> None:
    before = snapshot(out)
    for name, rows in before["plain"].items():  # the plain readers agree with the store to begin with
        for reader, found in rows.items():
            assert len(found) == len(before["store"][name]), (name, reader)
    n_before = table_files(ParquetStore(out), NAME)
    report = compact_sweep(ParquetStore(out), NAME)
    assert (report.files_before, report.files_after) == (n_before, len(TABLES)) == (6 * len(TABLES), 6)
    assert (report.status_files_before, report.status_files_after) == (6, 1)  # one status batch
    assert snapshot(out) == before
    store = ParquetStore(out)  # a fresh reader: nothing cached
    assert {r: store.run_status(NAME, r) for r in before["statuses"]} == before["statuses"]
    again = compact_sweep(ParquetStore(out), NAME)  # nothing left to do: nothing rewritten
    assert again.runs_moved == 0 and snapshot(out) == before


def test_batches_are_bounded_and_merged_at_the_end(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(out)
    monkeypatch.setattr(sweep.compact, "MAX_RUNS_PER_BATCH", 4)
    compact_sweep(ParquetStore(out), NAME, final=False, every=2)  # mid-sweep: 6 runs waiting → 4 + 2
    assert table_files(ParquetStore(out), NAME) == 2 * len(TABLES)
    assert snapshot(out) == before
    monkeypatch.setattr(sweep.compact, "MAX_RUNS_PER_BATCH", 1000)
    compact_sweep(ParquetStore(out), NAME)  # the end: small batches merged
    assert table_files(ParquetStore(out), NAME) == len(TABLES)
    assert snapshot(out) == before


def test_a_run_retried_after_compaction_replaces_its_batched_rows(out: Path) -> None:
    store = ParquetStore(out)
    compact_sweep(store, NAME)
    run_id = store.list_runs(NAME)[0]
    events = store.read("events", NAME, run_id)
    store.write_part("events", NAME, run_id, "final", events.slice(events.num_rows - 1, 1))
    store.compact(NAME, run_id)  # its own file now: it wins over the batch
    assert store.read("events", NAME, run_id).num_rows == events.num_rows
    compact_sweep(store, NAME)  # the batch holding the stale copy is rewritten
    assert table_files(store, NAME) == len(TABLES)
    assert len(plain_rows(out, "events")["duckdb"]) == store.read("events", NAME).num_rows
    store.delete_run(NAME, run_id)  # and a batched run can be deleted alone
    assert run_id not in store.list_runs(NAME) and len(store.list_runs(NAME)) == 5


def test_compaction_killed_at_every_step_never_loses_or_doubles_a_row(
    out: Path, sweep_cells: tuple[Any, list[RunSpec]], tmp_path: Path
) -> None:
    before = snapshot(out)
    counting = tmp_path / "counting"
    shutil.copytree(out, counting)
    steps = KillingStore(counting)
    compact_sweep(steps, NAME)
    assert len(steps.steps) >= 2 * len(TABLES) * 2  # a batch and the files it replaces, per table
    assert sum(s.startswith(("status batch", "remove status")) for s in steps.steps) == 1 + 6  # and statuses
    clean_files = sorted(p.name.split("-")[0] for p in counting.glob("*/sweep=*/*"))
    cells = sweep_cells[1]
    for k in range(1, len(steps.steps) + 1):
        work = tmp_path / f"k{k}"
        shutil.copytree(out, work)
        with pytest.raises(Killed):
            compact_sweep(KillingStore(work, kill_at=k), NAME)
        store = ParquetStore(work)
        assert {t: store.read(t, NAME).to_pylist() for t in TABLES} == before["store"], steps.steps[k - 1]
        # resume reads the statuses: the same for the sweep and for each run alone
        assert store.get_status(NAME) == before["statuses"], steps.steps[k - 1]
        assert {r: store.run_status(NAME, r) for r in before["statuses"]} == before["statuses"]
        assert plan(cells, store, retry_failed=False) == plan(cells, ParquetStore(out), retry_failed=False)
        compact_sweep(store, NAME)  # finishes the job
        assert snapshot(work) == before, steps.steps[k - 1]
        assert sorted(p.name.split("-")[0] for p in work.glob("*/sweep=*/*")) == clean_files
        shutil.rmtree(work)


def test_paylab_compact_command(out: Path, tmp_path: Path) -> None:
    before = snapshot(out)
    done = paylab(["compact", str(out)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{NAME}: {6 * len(TABLES)} → {len(TABLES)} table files, 6 → 1 status files (36 run slices moved)"
    )
    assert snapshot(out) == before
    assert paylab(["compact", str(tmp_path / "empty")], cwd=tmp_path).stdout.startswith("no sweep found")


def test_small_batches_are_packed_into_full_ones_a_batch_at_a_time(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The end of a sweep packs its small batches into full ones (at most one left short),
    streaming: a batch is written a row group of at most `ROW_GROUP_ROWS` rows at a time, from
    one source file at a time, so what compaction holds in memory does not grow with the
    sweep (nor with `MAX_RUNS_PER_BATCH`)."""
    before = snapshot(out)
    monkeypatch.setattr(sweep.compact, "MAX_RUNS_PER_BATCH", 1)
    compact_sweep(ParquetStore(out), NAME, final=False, every=1)  # six one-run batches
    assert table_files(ParquetStore(out), NAME) == 6 * len(TABLES)
    monkeypatch.setattr(sweep.compact, "MAX_RUNS_PER_BATCH", 4)
    monkeypatch.setattr(sweep.compact, "ROW_GROUP_ROWS", 1)  # every run's rows a row group of their own
    written: list[int] = []
    real_write = sweep.compact._write
    monkeypatch.setattr(sweep.compact, "_write", lambda *a: (written.append(len(a[-1])), real_write(*a)))
    compact_sweep(ParquetStore(out), NAME)
    assert written == [4, 2] * len(TABLES)
    assert table_files(ParquetStore(out), NAME) == 2 * len(TABLES)
    groups = sorted(pq.ParquetFile(p).num_row_groups for p in (out / "events" / f"sweep={NAME}").iterdir())
    assert groups == [2, 4]  # one group a run here: never more than one run's rows held at once
    assert snapshot(out) == before


def test_statuses_are_batched_bounded_and_merged_at_the_end(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(out)
    status_dir = out / "_status" / f"sweep={NAME}"
    monkeypatch.setattr(sweep.compact, "MAX_STATUSES_PER_BATCH", 4)
    compact_sweep(ParquetStore(out), NAME, final=False, every=2)  # mid-sweep: 6 statuses → 4 + 2
    assert sorted(len(json.loads(p.read_text())) for p in status_dir.iterdir()) == [2, 4]
    assert snapshot(out) == before
    monkeypatch.setattr(sweep.compact, "MAX_STATUSES_PER_BATCH", 1000)
    compact_sweep(ParquetStore(out), NAME)  # the end: small batches merged
    assert [len(json.loads(p.read_text())) for p in status_dir.iterdir()] == [6]
    assert snapshot(out) == before


def test_runs_the_sweep_still_runs_are_left_alone(out: Path) -> None:
    """A failed run queued for a retry (``busy``) keeps its own files mid-sweep: its retry
    rewrites them, and a compaction moving them at the same time could delete the new ones."""
    store = ParquetStore(out)
    busy = store.list_runs(NAME)[0]
    compact_sweep(store, NAME, final=False, every=1, busy={busy})
    own = {p.stem for p in out.glob(f"*/sweep={NAME}/*") if "~" not in p.name}
    assert own == {busy}  # its status file and its table files, nobody else's
    assert len(list(out.glob(f"*/sweep={NAME}/{busy}.*"))) == len(TABLES) + 1


def test_a_retried_run_status_wins_over_its_batched_copy_and_delete_removes_both(out: Path) -> None:
    store = ParquetStore(out)
    compact_sweep(store, NAME)
    run_id = store.list_runs(NAME)[0]
    batched = store.run_status(NAME, run_id)
    assert batched is not None and batched.status == "done"
    store.set_status(NAME, run_id, "running", attempt=batched.attempt + 1)  # a retry starts
    fresh = ParquetStore(out)
    assert fresh.run_status(NAME, run_id) == fresh.get_status(NAME)[run_id]
    assert fresh.get_status(NAME)[run_id].status == "running"
    store.set_status(NAME, run_id, "failed", attempt=batched.attempt + 1, error="boom")
    compact_sweep(store, NAME)  # the stale copy is replaced: one batch, the new status in it
    assert [p.name.startswith("~batch-") for p in (out / "_status" / f"sweep={NAME}").iterdir()] == [True]
    assert ParquetStore(out).run_status(NAME, run_id).error == "boom"  # type: ignore[union-attr]
    others = {r: s for r, s in store.get_status(NAME).items() if r != run_id}
    store.delete_run(NAME, run_id)  # restart from scratch: no status left anywhere
    fresh = ParquetStore(out)
    assert fresh.run_status(NAME, run_id) is None and fresh.get_status(NAME) == others


def test_small_status_batches_are_packed_during_a_sweep(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs finish between compactions: without packing, each step would add a batch of
    two (a long sweep: one status batch per step); packed, full batches and one small one."""
    before = snapshot(out)
    status_dir = out / "_status" / f"sweep={NAME}"
    monkeypatch.setattr(sweep.compact, "MAX_STATUSES_PER_BATCH", 4)
    runs = ParquetStore(out).list_runs(NAME)
    sizes = []
    for finished in (2, 4, 6):
        compact_sweep(ParquetStore(out), NAME, final=False, every=2, busy=set(runs[finished:]))
        sizes.append(sorted(len(json.loads(p.read_text())) for p in status_dir.glob("~batch-*")))
    assert sizes == [[2], [4], [2, 4]]
    assert snapshot(out) == before
