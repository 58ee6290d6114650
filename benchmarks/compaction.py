"""Files and read time of a sweep's results before and after compaction (`sweep.compact`).

Runs N short runs (Castro exp1, ``builtin/none``, 2 iterations; ``--executor local``) with
the sweep's own compaction switched off, so every run leaves one file per table; then
counts the table files, times reading every table (`ResultStore.read`, DuckDB) and the
``paylab analyze`` report, compacts, and does it again. Prints the ratios (before ÷ after)
and checks that every reader sees the same rows.

Run: ``.venv/bin/python benchmarks/compaction.py [N]`` (default 200).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

# this folder holds a sweep.py of its own: import the package from the repository root
sys.path[0] = str(Path(__file__).resolve().parents[1])

import sweep.compact  # noqa: E402
import sweep.driver  # noqa: E402
from sweep.analysis import analyze_results  # noqa: E402
from sweep.compact import compact_sweep, table_files  # noqa: E402
from sweep.driver import run_sweep  # noqa: E402
from sweep.spec import check_sweep_file  # noqa: E402
from sweep.store import ParquetStore  # noqa: E402
from sweep.tables import TABLES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAME = "bench_compaction"


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - began)
    return best, value


def measure(out: Path) -> dict[str, Any]:
    store = ParquetStore(out)
    read_s, rows = timed(lambda: {t: ParquetStore(out).read(t, NAME).to_pylist() for t in TABLES})
    duck_s, duck = timed(
        lambda: {
            t: sorted(
                map(
                    str,
                    duckdb.sql(
                        f"SELECT * EXCLUDE (sweep) FROM read_parquet('{out}/{t}/*/*.parquet', hive_partitioning=true, "
                        f"union_by_name=true)"
                    ).fetchall(),
                )
            )
            for t in TABLES
        }
    )
    analyze_s, report = timed(lambda: analyze_results(ParquetStore(out), NAME, ["scenario", "model"], "json"))
    return {
        "files": table_files(store, NAME),
        "read_s": read_s,
        "duckdb_s": duck_s,
        "analyze_s": analyze_s,
        "rows": rows,
        "duckdb": duck,
        "report": report,
    }


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sweep_file = folder / "bench.yaml"
        sweep_file.write_text(
            f"name: {NAME}\nexperiments: [{ROOT}/experiments/castro/exp1.yaml]\n"
            f"grid: {{llm.model: [builtin/none]}}\nreplicates: {n}\noutput: out\n"
        )
        spec, cells = check_sweep_file(sweep_file, ["convergence.max_iterations=2", f"output={folder}/out"])
        out = folder / "out"
        sweep.driver.compact_sweep = lambda *a, **k: None  # type: ignore[assignment]
        sweep.compact.COMPACT_EVERY = 10**9
        began = time.perf_counter()
        run_sweep(spec, cells, ParquetStore(out), str(out), executor="local")
        print(f"{n} runs in {time.perf_counter() - began:.1f} s")
        before = measure(out)
        began = time.perf_counter()
        compact_sweep(ParquetStore(out), NAME)
        compact_s = time.perf_counter() - began
        after = measure(out)
        same = all(before[k] == after[k] for k in ("rows", "duckdb", "report"))
        rows = sum(len(v) for v in after["rows"].values())
        print(
            f"table files: {before['files']} → {after['files']} ({before['files'] / after['files']:.0f}×), "
            f"compaction {compact_s:.2f} s, {rows} rows, same rows for store/DuckDB/analyze: {same}"
        )
        for key, label in (
            ("read_s", "ResultStore.read, every table"),
            ("duckdb_s", "DuckDB, every table"),
            ("analyze_s", "paylab analyze"),
        ):
            print(f"{label:<32} {before[key]:7.3f} s → {after[key]:7.3f} s  ({before[key] / after[key]:.1f}× faster)")
        if not same:
            raise SystemExit("rows differ after compaction")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
