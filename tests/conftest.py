"""Shared fixtures: paths, the SimCash compatibility corpus (skipped when absent), tiny scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
COMPAT = ROOT.parent / "shared" / "compat" / "simcash"


@pytest.fixture
def compat_dir() -> Path:
    """The SimCash corpus at ../shared/compat/simcash (present in CI, maybe not in a user's clone)."""
    if not COMPAT.is_dir():
        pytest.skip("../shared/compat/simcash is absent (only paylab's CI has the SimCash corpus)")
    return COMPAT
