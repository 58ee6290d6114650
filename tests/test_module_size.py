"""Modules stay readable in one sitting: none in runner/, sweep/ or paylab_cli/ above 500 lines."""

from __future__ import annotations

from tests.conftest import ROOT

LIMIT = 500


def test_no_module_above_the_limit() -> None:
    sizes = {
        p.relative_to(ROOT): len(p.read_text().splitlines())
        for folder in ("runner", "sweep", "paylab_cli")
        for p in (ROOT / folder).rglob("*.py")
    }
    too_long = {str(p): n for p, n in sizes.items() if n > LIMIT}
    assert not too_long, f"split these modules (limit {LIMIT} lines): {too_long}"
