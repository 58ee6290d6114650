"""The engine A/B script's bad input: one line, non-zero exit, no worktree left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "engine_ab.py"


def worktrees() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--base", "no-such-revision"], 1, "--base 'no-such-revision' is not a revision of this repository"),
        (["--rounds", "0"], 2, "--rounds and --repeats must be ≥ 1"),
        (["--repeats", "-1"], 2, "--rounds and --repeats must be ≥ 1"),
    ],
)
def test_bad_arguments_get_one_line(args: list[str], code: int, message: str) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: engine_ab.py compares git revisions")
    before = worktrees()
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == code
    assert message in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert worktrees() == before


@pytest.mark.slow
def test_compares_against_head_and_cleans_up() -> None:
    """One round against HEAD: every case runs with both engines, the table has a ratio per
    case, and the temporary worktree is gone."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: engine_ab.py compares git revisions")
    before = worktrees()
    cmd = [sys.executable, str(SCRIPT), "--base", "HEAD", "--rounds", "1", "--repeats", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr  # 1: a case over 10 % slower (noise on one repeat)
    rows = [line for line in done.stdout.splitlines() if line.startswith("  ") and line.split()[0] != "case"]
    assert len(rows) == 18, done.stdout
    assert all(len(row.split()) >= 4 and "n/a" not in row for row in rows)
    assert done.stdout.strip().splitlines()[-1].split()[0] in ("PASS", "FAIL")
    assert worktrees() == before
