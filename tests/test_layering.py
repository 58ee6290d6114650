"""The packages depend one way: ``paylab_cli`` → ``sweep`` → ``runner``.

`runner` (the engine and one experiment) must run without `sweep` (Ray, Parquet) installed or
imported, and neither library may reach back into the command line. Checked on the source's
import statements (lazy ones inside functions included), so a new arrow fails here, not as an
import cycle at start-up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# package -> the top-level packages of this project it must never import
FORBIDDEN = {"runner": ("sweep", "paylab_cli"), "sweep": ("paylab_cli",)}
PROJECT_PACKAGES = ("runner", "sweep", "paylab_cli")


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, absolute, relative imports resolved against its package."""
    package = list(path.relative_to(root).with_suffix("").parts)[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downwards(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for module in imported_modules(path)
        if top_level(module) in FORBIDDEN[package]
    }
    assert not wrong, f"{package}/ must not import {FORBIDDEN[package]}: {sorted(wrong)}"


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    (tmp_path / "runner").mkdir()
    source = tmp_path / "runner" / "probe.py"
    lines = [
        "import sweep.store",
        "from sweep import driver",
        "def f():\n    from paylab_cli import main",
        "from . import errors",
        "from .engine import batch",
    ]
    source.write_text("\n".join(lines) + "\n")
    found = imported_modules(source, root=tmp_path)
    assert {"sweep.store", "sweep.driver", "paylab_cli.main", "runner.errors", "runner.engine.batch"} <= found
    assert {top_level(m) for m in found} <= {*PROJECT_PACKAGES}


def test_the_cli_is_where_both_meet() -> None:
    cli_imports = {top_level(m) for p in (ROOT / "paylab_cli").rglob("*.py") for m in imported_modules(p)}
    assert {"runner", "sweep"} <= cli_imports
