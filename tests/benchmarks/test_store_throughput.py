"""The Parquet write-throughput helper of ``benchmarks/sweep.py``: it measures, then cleans up."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.store_throughput import write_throughput


def test_write_throughput_leaves_no_files_behind(tmp_path: Path) -> None:
    rate = write_throughput(str(tmp_path / "bench"), 1_000)
    assert rate > 0
    assert not list((tmp_path / "bench").rglob("*.parquet"))


@pytest.mark.parametrize(("n_rows", "rows_per_part"), [(0, 100), (100, 0), (-1, 10)])
def test_write_throughput_rejects_empty_work(tmp_path: Path, n_rows: int, rows_per_part: int) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        write_throughput(str(tmp_path / "bench"), n_rows, rows_per_part)
