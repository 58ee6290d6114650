"""The gridlock benchmark runs end to end: every engine, identical results, exit status 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gridlock.py"


@pytest.mark.slow
def test_gridlock_benchmark_compares_three_engines_on_identical_results() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["1", "10"]
    assert all(row[-1] == "yes" for row in rows)
    assert done.stdout.strip().splitlines()[-1].startswith("PASS")
