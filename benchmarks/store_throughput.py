"""Parquet write throughput of the result store, for ``benchmarks/sweep.py`` part (c).

Measures `sweep.store.ParquetStore.write_part` from outside: a benchmark helper, so it lives
with the benchmarks rather than in the store it measures.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import pyarrow as pa

from sweep.store import ParquetStore
from sweep.tables import SCHEMA_VERSION


def write_throughput(root: str, n_rows: int, rows_per_part: int = 100) -> float:
    """Rows per second that `ParquetStore.write_part` sustains for ``samples`` rows.

    Writes ``n_rows`` synthetic sample rows as parts of ``rows_per_part`` rows (100 is one
    bootstrap iteration: 2 agents × 50 samples) into a scratch sweep under ``root``. Only the
    `write_part` calls are timed — validation, Parquet encoding, temp file and rename, i.e.
    what a run pays per iteration for one table; building the rows is not. The scratch
    sweep is deleted afterwards.
    """
    if n_rows <= 0 or rows_per_part <= 0:
        raise ValueError(f"n_rows and rows_per_part must be > 0, got {n_rows} and {rows_per_part}")
    store = ParquetStore(root)
    sweep, run_id = f"bench-{uuid.uuid4().hex[:8]}", "bench-run"
    chunks = []
    for start in range(0, n_rows, rows_per_part):
        n = min(rows_per_part, n_rows - start)
        k = pa.array(range(start, start + n), pa.int64())
        chunks.append(
            pa.table(
                {
                    "run_id": pa.array([run_id] * n),
                    "iteration": pa.array([start // rows_per_part] * n, pa.int32()),
                    "agent": pa.array(["BANK_A" if i % 2 else "BANK_B" for i in range(n)]),
                    "sample": pa.array([i // 2 for i in range(n)], pa.int32()),
                    "seed": k,
                    "old_cost": k,
                    "new_cost": k,
                    "delta": pa.array([0] * n, pa.int64()),
                    "schema_version": pa.array([SCHEMA_VERSION] * n, pa.int32()),
                }
            )
        )
    began = time.perf_counter()
    for i, chunk in enumerate(chunks):
        store.write_part("samples", sweep, run_id, f"it-{i:05d}", chunk)
    elapsed = time.perf_counter() - began
    store.delete_run(sweep, run_id)
    for table in ("samples", "_status"):
        with contextlib.suppress(FileNotFoundError, OSError):
            store._fs.delete_dir(f"{store._base}/{table}/sweep={sweep}")
    return n_rows / elapsed if elapsed > 0 else float("inf")
