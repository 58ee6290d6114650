"""The `ResultStore` contract, run against every backend (MemoryStore, ParquetStore on a path
and on a ``file://`` URI), plus what only the Parquet layout can show: crash leftovers,
temp files, and other tools reading the dataset as it is."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from runner.experiment.events import Event
from runner.experiment.result import ExperimentResult
from sweep.sink import StoreSink
from sweep.store import MemoryStore, ParquetStore, ResultStore
from sweep.table_rows import rows_for_events, run_row
from sweep.tables import (
    EVENT_TABLES,
    SCHEMA_VERSION,
    SORT_KEYS,
    TABLES,
)
from tests.sweep.helpers_store import RUN_ID, Cell, run_exp1

SWEEP = "castro_models"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
MONEY = {
    "runs": ["baseline_total_cost", "final_total_cost", "best_total_cost"],
    "iterations": ["reference_cost", "cost_delay", "cost_liquidity_opportunity"],
    "proposals": ["old_mean_cost", "new_mean_cost"],
    "samples": ["old_cost", "new_cost", "delta", "seed"],
}


@pytest.fixture(scope="module")
def exp1() -> tuple[list[Event], ExperimentResult]:
    return run_exp1()


@pytest.fixture(params=["memory", "parquet-path", "parquet-uri"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ResultStore:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "parquet-path":
        return ParquetStore(str(tmp_path / "out"))
    return ParquetStore(f"file://{tmp_path}/out")


def write_run(
    store: ResultStore,
    events: list[Event],
    sweep: str = SWEEP,
    run_id: str = RUN_ID,
    params: dict[str, Any] | None = None,
    result: ExperimentResult | None = None,
) -> None:
    """Write a run the way a sweep does: its events through a StoreSink, then its runs row."""
    sink = StoreSink(store, sweep, run_id)
    for e in events:
        sink.handle(Event(e.seq, run_id, e.iteration, e.payload))
    params = params if params is not None else {"llm.model": "builtin/coordinate"}
    row = run_row(
        sweep,
        Cell(run_id=run_id, params=params),
        result,
        "done",
        None,
        T0,
        T0 + timedelta(seconds=2),
        1,
        sorted(params),
    )
    store.write_part("runs", sweep, run_id, "final", row)


def all_rows(store: ResultStore) -> dict[str, list[dict[str, Any]]]:
    return {t: store.read(t).to_pylist() for t in TABLES}


class TestResultStoreContract:
    """Every backend must pass these."""

    def test_round_trip_every_table(self, store: ResultStore, exp1: Any) -> None:
        events, result = exp1
        write_run(store, events, result=result)
        expected = rows_for_events(SWEEP, events)
        for table in EVENT_TABLES:
            got = store.read(table)
            assert got.schema == expected[table].schema, table
            assert got.num_rows == expected[table].num_rows, table
            keys = [(k, "ascending") for k in SORT_KEYS[table]]
            assert got.to_pylist() == expected[table].sort_by(keys).to_pylist(), table
        runs = store.read("runs").to_pylist()
        assert len(runs) == 1
        assert runs[0]["final_total_cost"] == round(result.final_total)
        assert runs[0]["param_llm__model"] == "builtin/coordinate"
        assert runs[0]["started_at"] == T0

    def test_rewriting_a_part_replaces_it(self, store: ResultStore, exp1: Any) -> None:
        events, _ = exp1
        first = [e for e in events if e.iteration <= 1]
        write_run(store, first)
        before = all_rows(store)
        write_run(store, first)  # a retried iteration writes the same parts again
        assert all_rows(store) == before
        assert store.read("events").num_rows == len(first)

    def test_compaction_is_idempotent(self, store: ResultStore, exp1: Any) -> None:
        events, result = exp1
        write_run(store, events, result=result)
        before = all_rows(store)
        store.compact(SWEEP, RUN_ID)
        assert all_rows(store) == before
        store.compact(SWEEP, RUN_ID)
        assert all_rows(store) == before

    def test_a_part_written_after_compaction_overrides_its_slice(self, store: ResultStore, exp1: Any) -> None:
        events, result = exp1
        write_run(store, events, result=None)  # the run failed first...
        store.compact(SWEEP, RUN_ID)
        assert store.read("runs")["final_total_cost"].to_pylist() == [None]
        write_run(store, events, result=result)  # ...then was retried and finished
        assert store.read("runs")["final_total_cost"].to_pylist() == [round(result.final_total)]
        assert store.read("events").num_rows == len(events)
        store.compact(SWEEP, RUN_ID)
        assert store.read("runs")["final_total_cost"].to_pylist() == [round(result.final_total)]
        assert store.read("events").num_rows == len(events)

    def test_parts_without_their_events_part_are_invisible(self, store: ResultStore, exp1: Any) -> None:
        events, _ = exp1
        write_run(store, [e for e in events if e.iteration == 0])
        iteration1 = rows_for_events(SWEEP, [e for e in events if e.iteration == 1])
        for table in ("iterations", "proposals", "samples"):  # crash before the events part
            store.write_part(table, SWEEP, RUN_ID, "it-00001", iteration1[table])
        assert store.read("samples").num_rows == 0
        assert store.read("proposals").num_rows == 0
        assert set(store.read("iterations")["iteration"].to_pylist()) == {0}
        assert store.last_complete_iteration(SWEEP, RUN_ID) == 0
        store.compact(SWEEP, RUN_ID)  # orphans are dropped, not merged
        store.write_part("events", SWEEP, RUN_ID, "it-00001", iteration1["events"])
        assert store.read("samples").num_rows == 0

    def test_reads_across_sweeps_with_different_param_columns(self, store: ResultStore, exp1: Any) -> None:
        events, result = exp1
        write_run(store, events, "sweep_a", "run-a", {"llm.model": "m1", "master_seed": 1}, result)
        write_run(store, events, "sweep_b", "run-b", {"master_seed": 2.5, "x.flag": True}, result)
        store.compact("sweep_b", "run-b")
        runs = store.read("runs")
        assert runs["sweep"].to_pylist() == ["sweep_a", "sweep_b"]
        assert runs.schema.field("param_master_seed").type == pa.float64()  # int64 + float64
        assert runs["param_master_seed"].to_pylist() == [1.0, 2.5]
        assert runs["param_llm__model"].to_pylist() == ["m1", None]
        assert runs["param_x__flag"].to_pylist() == [None, True]
        assert store.read("runs", sweep="sweep_a").column_names.count("param_x__flag") == 0
        assert store.read("events").num_rows == 2 * len(events)
        assert store.read("events", sweep="sweep_b", run_id="run-b").num_rows == len(events)

    def test_status_heartbeat_and_staleness(self, store: ResultStore) -> None:
        assert store.get_status(SWEEP) == {}
        store.set_status(SWEEP, "r1", "running", attempt=1, heartbeat=T0, progress={"iteration": 2})
        store.set_status(SWEEP, "r2", "done", attempt=2, heartbeat=T0)
        store.set_status(SWEEP, "r3", "failed", attempt=1, error="boom", heartbeat=T0)
        status = store.get_status(SWEEP)
        assert [(r.status, r.attempt) for r in status.values()] == [("running", 1), ("done", 2), ("failed", 1)]
        assert status["r1"].progress == {"iteration": 2} and status["r3"].error == "boom"
        assert status["r1"].heartbeat == T0
        assert status["r1"].is_stale(T0 + timedelta(seconds=61), timeout_s=60)
        assert not status["r1"].is_stale(T0 + timedelta(seconds=59), timeout_s=60)
        assert not status["r2"].is_stale(T0 + timedelta(days=1), timeout_s=60)  # only running
        store.set_status(SWEEP, "r1", "running", attempt=1)  # a heartbeat: now
        assert not store.get_status(SWEEP)["r1"].is_stale(datetime.now(timezone.utc), 60)
        with pytest.raises(ValueError, match="status must be one of"):
            store.set_status(SWEEP, "r1", "finished", attempt=1)

    def test_events_for_is_ordered_by_seq(self, store: ResultStore, exp1: Any) -> None:
        events, _ = exp1
        by_part: dict[str, list[Event]] = {}
        for e in events:
            by_part.setdefault(
                "final" if e.type in ("experiment_end", "converged") else f"it-{e.iteration:05d}", []
            ).append(e)
        for part, evs in reversed(list(by_part.items())):  # written out of order
            store.write_part("events", SWEEP, RUN_ID, part, rows_for_events(SWEEP, evs)["events"])
        assert store.events_for(SWEEP, RUN_ID) == events
        assert store.events_for(SWEEP, "nobody") == []

    def test_last_complete_iteration(self, store: ResultStore, exp1: Any) -> None:
        events, _ = exp1
        assert store.last_complete_iteration(SWEEP, RUN_ID) is None
        write_run(store, [e for e in events if e.iteration <= 1])
        assert store.last_complete_iteration(SWEEP, RUN_ID) == 1
        write_run(store, events)
        assert store.last_complete_iteration(SWEEP, RUN_ID) == 3

    def test_money_columns_are_int64_and_schema_version_is_present(self, store: ResultStore, exp1: Any) -> None:
        events, result = exp1
        write_run(store, events, result=result)
        for table in TABLES:
            got = store.read(table)
            assert got.schema.field("sweep").type == pa.string()
            assert got.schema.field("schema_version").type == pa.int32()
            assert set(got["schema_version"].to_pylist()) <= {SCHEMA_VERSION}
            for column in MONEY.get(table, []):
                assert got.schema.field(column).type == pa.int64(), (table, column)
        agent_costs = store.read("runs").schema.field("agent_costs").type.value_type
        assert agent_costs.field("final").type == pa.int64()

    def test_empty_reads_have_the_table_schema(self, store: ResultStore) -> None:
        for table in TABLES:
            got = store.read(table, sweep=SWEEP)
            assert got.num_rows == 0 and got.column_names[:2] == ["sweep", "run_id"]

    def test_delete_run_and_list_runs(self, store: ResultStore, exp1: Any) -> None:
        events, _ = exp1
        write_run(store, events, run_id="run-1")
        write_run(store, events, run_id="run-2")
        store.compact(SWEEP, "run-2")
        store.set_status(SWEEP, "run-3", "pending", attempt=0)
        assert store.list_runs(SWEEP) == ["run-1", "run-2", "run-3"]
        store.delete_run(SWEEP, "run-2")
        assert store.list_runs(SWEEP) == ["run-1", "run-3"]
        assert set(store.read("events")["run_id"].to_pylist()) == {"run-1"}
        assert store.list_runs("other") == []

    def test_bad_names_and_foreign_rows_are_rejected(self, store: ResultStore, exp1: Any) -> None:
        events, _ = exp1
        rows = rows_for_events(SWEEP, events[:2])["events"]
        with pytest.raises(ValueError, match="run_id"):
            store.write_part("events", SWEEP, "someone-else", "it-00000", rows)
        with pytest.raises(ValueError, match="run_id must be"):
            store.write_part("events", SWEEP, "a/b", "it-00000", rows)
        with pytest.raises(ValueError, match="sweep must be"):
            store.write_part("events", "../up", RUN_ID, "it-00000", rows)
        with pytest.raises(ValueError, match="table must be one of"):
            store.write_part("nope", SWEEP, RUN_ID, "it-00000", rows)
        with pytest.raises(ValueError, match="has no columns"):
            extra = rows.append_column("y", pa.array([1, 2]))
            store.write_part("events", SWEEP, RUN_ID, "x", extra)


# ---------------------------------------------------------------------------- Parquet only
@pytest.fixture
def parquet_root(tmp_path: Path, exp1: Any) -> Iterator[Path]:
    events, result = exp1
    store = ParquetStore(str(tmp_path / "out"))
    write_run(store, events, result=result)
    yield tmp_path / "out"


def test_backends_agree(tmp_path: Path, exp1: Any) -> None:
    events, result = exp1
    memory, parquet = MemoryStore(), ParquetStore(str(tmp_path / "out"))
    for s in (memory, parquet):
        write_run(s, events, result=result)
        write_run(s, events, "sweep_b", "run-b", {"master_seed": 2.5}, result)
        s.compact("sweep_b", "run-b")
    for table in TABLES:
        assert memory.read(table).equals(parquet.read(table)), table


def test_layout_matches_the_documented_one(parquet_root: Path) -> None:
    files = sorted(p.relative_to(parquet_root).as_posix() for p in parquet_root.rglob("*") if p.is_file())
    assert f"events/sweep={SWEEP}/{RUN_ID}~it-00000.parquet" in files
    assert f"samples/sweep={SWEEP}/{RUN_ID}~it-00003.parquet" in files
    assert f"events/sweep={SWEEP}/{RUN_ID}~final.parquet" in files
    assert f"runs/sweep={SWEEP}/{RUN_ID}~final.parquet" in files
    assert not [f for f in files if "tmp" in f]
    final = parquet_root / f"runs/sweep={SWEEP}/{RUN_ID}~final.parquet"
    assert "sweep" not in pq.read_schema(final).names  # the folder name carries it
    ParquetStore(str(parquet_root)).compact(SWEEP, RUN_ID)
    left = sorted(p.relative_to(parquet_root).as_posix() for p in parquet_root.rglob("*.parquet"))
    assert left == [f"{t}/sweep={SWEEP}/{RUN_ID}.parquet" for t in sorted(TABLES)]


def test_a_crash_between_merge_and_delete_double_counts_nothing(parquet_root: Path) -> None:
    store = ParquetStore(str(parquet_root))
    before = all_rows(store)
    parts = {p: p.read_bytes() for p in parquet_root.rglob("*~*.parquet")}
    store.compact(SWEEP, RUN_ID)
    for path, data in parts.items():  # as if the process died before deleting the parts
        path.write_bytes(data)
    assert all_rows(store) == before
    store.compact(SWEEP, RUN_ID)
    assert not list(parquet_root.rglob("*~*.parquet"))
    assert all_rows(store) == before


def test_temp_files_are_ignored(parquet_root: Path) -> None:
    folder = parquet_root / f"samples/sweep={SWEEP}"
    (folder / f".{RUN_ID}~it-00009.parquet.0123abcd.tmp").write_bytes(b"PAR1 half a file")
    store = ParquetStore(str(parquet_root))
    assert store.read("samples").num_rows == 6
    assert ds.dataset(str(parquet_root / "samples"), partitioning="hive").to_table().num_rows == 6


def test_pyarrow_dataset_opens_the_folders_as_they_are(parquet_root: Path) -> None:
    ParquetStore(str(parquet_root)).compact(SWEEP, RUN_ID)
    runs = ds.dataset(str(parquet_root / "runs"), partitioning="hive").to_table()
    assert runs["sweep"].to_pylist() == [SWEEP]
    assert runs.schema.field("final_total_cost").type == pa.int64()
    events = ds.dataset(str(parquet_root / "events"), partitioning="hive").to_table()
    assert events.num_rows == 30


def test_duckdb_reads_the_dataset(parquet_root: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    glob = (parquet_root / "runs" / "*" / "*.parquet").as_posix()
    rows = duckdb.sql(
        f"SELECT sweep, final_total_cost FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
    ).fetchall()
    assert rows == [(SWEEP, 4000)]


def test_polars_reads_the_dataset(parquet_root: Path) -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed")
    frame = pl.scan_parquet((parquet_root / "runs" / "**" / "*.parquet").as_posix(), hive_partitioning=True).collect()
    assert frame["sweep"].to_list() == [SWEEP]


def test_a_parquet_store_pickles_as_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = ParquetStore("relative/out")
    store.set_status(SWEEP, "r1", "running", attempt=1)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.root == (tmp_path / "relative/out").resolve().as_posix()
    assert list(clone.get_status(SWEEP)) == ["r1"]


def test_run_status_reads_one_run_as_get_status_sees_it(store: ResultStore, tmp_path: Path) -> None:
    """`run_status` (what a starting run asks) agrees with `get_status` run by run: the
    record, None for a run without a status, None for an unreadable one."""
    store.set_status("s", "r1", "done", attempt=1)
    store.set_status("s", "r2", "failed", attempt=3, error="boom")
    store.set_status("t", "r1", "running", attempt=2)
    everything = store.get_status("s")
    assert {r: store.run_status("s", r) for r in ("r1", "r2")} == everything
    assert store.run_status("s", "nobody") is None
    assert store.run_status("t", "r1") == store.get_status("t")["r1"]
    status_file = tmp_path / "out" / "_status" / "sweep=s" / "r1.json"
    if isinstance(store, ParquetStore):
        assert status_file.is_file()
        status_file.write_text('{"status": "do')  # truncated
        assert store.run_status("s", "r1") is None and "r1" not in store.get_status("s")
