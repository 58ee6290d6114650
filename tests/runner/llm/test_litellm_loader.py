"""litellm is imported in one place, `runner.llm.litellm_loader`, so the cost-map switch holds.

`runner.llm`'s ``__init__`` sets ``LITELLM_LOCAL_MODEL_COST_MAP`` before any of its modules
run; an ``import litellm`` anywhere else (another package, a module-level import) could run
first and make litellm fetch its price map from the network. (That importing `runner.llm`
sets the switch without importing litellm: `test_faults.test_import_runner_does_not_import_litellm`.)
"""

from __future__ import annotations

from tests.conftest import ROOT
from tests.test_layering import imported_modules

LOADER = ROOT / "runner" / "llm" / "litellm_loader.py"


def _imports_litellm(modules: set[str]) -> bool:
    return any(m == "litellm" or m.startswith("litellm.") for m in modules)


def test_only_the_loader_imports_litellm() -> None:
    assert _imports_litellm(imported_modules(LOADER)), "the check would pass vacuously"
    elsewhere = sorted(
        str(path.relative_to(ROOT))
        for folder in ("runner", "sweep", "paylab_cli", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if path != LOADER and _imports_litellm(imported_modules(path))
    )
    assert not elsewhere, f"import litellm through runner.llm.litellm_loader.load_litellm: {elsewhere}"
