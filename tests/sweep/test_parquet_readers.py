"""A finished sweep's output opens as it is with plain Parquet readers (docs/sweeps.md, "The Parquet dataset").

A small local sweep (Castro exp1 and exp2 × {coordinate, none}, one replicate, few
iterations and samples: 4 runs, in this process) is written to a folder; then each of the
six tables is read with ``pyarrow.dataset.dataset(root / table, partitioning="hive")`` and
must hold exactly the rows `ResultStore.read` gives, with the ``sweep`` partition column,
int64 money columns and ``schema_version`` on every row. DuckDB and polars read the same
files when they are installed (neither is a dependency).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from runner.engine.rates import COMPONENTS
from sweep.driver import run_sweep
from sweep.expand import expand
from sweep.spec import load_sweep
from sweep.store import open_store
from sweep.tables import SCHEMA_VERSION, SORT_KEYS, TABLES
from tests.sweep.helpers_e2e import CASTRO, SMALL_OVERRIDES, write_sweep

SWEEP = "e2e_readers"
MONEY = {
    "runs": ["baseline_total_cost", "final_total_cost", "best_total_cost"],
    "iterations": ["reference_cost", *(f"cost_{c}" for c in COMPONENTS)],
    "proposals": ["old_mean_cost", "new_mean_cost"],
    "samples": ["old_cost", "new_cost", "delta"],
    "llm_calls": [],
    "events": [],
}
AGENT_MONEY = ("baseline", "final", "best")  # fields of runs.agent_costs


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readers")
    root = folder / "out"
    path = write_sweep(folder, name=SWEEP, experiments=CASTRO[:2], replicates=1)
    spec = load_sweep(path, [*SMALL_OVERRIDES, "convergence.max_iterations=2", f"output={root}"])
    runs = expand(spec, path.parent)
    outcomes = run_sweep(spec, runs, open_store(str(root)), str(root), executor="local")
    assert [o.status for o in outcomes] == ["done"] * 4
    return root


def _plain(root: Path, table: str) -> Any:
    return ds.dataset(str(root / table), format="parquet", partitioning="hive").to_table()


@pytest.mark.parametrize("table", TABLES)
def test_each_table_opens_with_pyarrow_dataset(output: Path, table: str) -> None:
    plain = _plain(output, table)
    stored = open_store(str(output)).read(table, sweep=SWEEP)
    assert set(plain.column_names) == set(stored.column_names)
    assert plain.column("sweep").to_pylist() == [SWEEP] * plain.num_rows
    ordered = plain.select(stored.column_names).sort_by([(k, "ascending") for k in SORT_KEYS[table]])
    assert ordered.to_pylist() == stored.to_pylist()  # no part, temp or duplicate file visible
    if table != "llm_calls":  # offline proposers make no LLM calls: an empty table, schema intact
        assert plain.num_rows > 0
    assert plain.schema.field("schema_version").type == pa.int32()
    assert set(plain.column("schema_version").to_pylist()) <= {SCHEMA_VERSION}
    for column in MONEY[table]:
        assert plain.schema.field(column).type == pa.int64(), column
    if table == "runs":
        agent = plain.schema.field("agent_costs").type.value_type
        assert all(agent.field(name).type == pa.int64() for name in AGENT_MONEY)
        assert plain.num_rows == 4 and set(plain.column("status").to_pylist()) == {"done"}


def test_the_documented_pyarrow_query(output: Path) -> None:
    runs = ds.dataset(str(output / "runs"), format="parquet", partitioning="hive")
    table = runs.to_table(
        columns=["scenario", "model", "replicate", "final_total_cost"], filter=pc.field("sweep") == SWEEP
    )
    means = table.group_by(["scenario", "model"]).aggregate([("final_total_cost", "mean")])
    assert means.num_rows == 4  # 2 scenarios × 2 models
    assert {(r["scenario"], r["model"]) for r in means.to_pylist()} == {
        (s, m) for s in ("exp1", "exp2") for m in ("builtin/coordinate", "builtin/none")
    }


def test_duckdb_reads_the_tables(output: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    for table in TABLES:
        query = (
            f"SELECT count(*) FROM read_parquet('{output}/{table}/*/*.parquet', "
            f"hive_partitioning = true, union_by_name = true) WHERE sweep = '{SWEEP}'"
        )
        assert duckdb.connect().execute(query).fetchall()[0][0] == _plain(output, table).num_rows, table


def test_polars_reads_the_tables(output: Path) -> None:
    pl = pytest.importorskip("polars")
    for table in TABLES:
        frame = pl.scan_parquet(f"{output}/{table}/*/*.parquet", hive_partitioning=True).collect()
        assert frame.height == _plain(output, table).num_rows, table
        assert frame.height == 0 or set(frame["sweep"].to_list()) == {SWEEP}


def test_temp_files_of_a_killed_writer_are_invisible_and_compacted_away(output: Path, tmp_path: Path) -> None:
    """A writer killed mid-write leaves a hidden ``.<file>.<uuid>.tmp``: no reader sees it,
    and the run's compaction deletes it (and only that run's)."""
    source = open_store(str(output)).read("runs", sweep=SWEEP)
    run_id, other = source.column("run_id").to_pylist()[:2]
    store = open_store(str(tmp_path))
    store.write_part("runs", SWEEP, run_id, "final", source.filter(pc.field("run_id") == run_id))
    store.set_status(SWEEP, run_id, "running", attempt=1)
    runs_dir, status_dir = tmp_path / "runs" / f"sweep={SWEEP}", tmp_path / "_status" / f"sweep={SWEEP}"
    garbage = {
        runs_dir / f".{run_id}~it-00003.parquet.{'a' * 32}.tmp",
        runs_dir / f".{run_id}.parquet.{'b' * 32}.tmp",
        status_dir / f".{run_id}.json.{'c' * 32}.tmp",
    }
    kept = runs_dir / f".{other}~final.parquet.{'d' * 32}.tmp"  # another run's write in flight
    for path in [*garbage, kept]:
        path.write_bytes(b"PAR1 half a file")
    assert store.read("runs", sweep=SWEEP).num_rows == 1
    assert _plain(tmp_path, "runs").num_rows == 1
    store.compact(SWEEP, run_id)
    assert not any(p.exists() for p in garbage) and kept.exists()
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted([f"{run_id}.parquet", kept.name])
    assert store.read("runs", sweep=SWEEP).column("run_id").to_pylist() == [run_id]
