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
