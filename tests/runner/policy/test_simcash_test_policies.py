"""SimCash's policies (``../shared/compat/simcash/simulator/policies``) against our DSL.

* every policy of ``test_policies/`` validates with no errors and runs in a two-bank Castro
  day (our ``experiments/castro/scenarios/exp2.yaml``) with both engines agreeing, at a
  starved and a comfortable liquidity fraction;
* the other policies are *reported*, not asserted: which parse and run, which parse but use
  an action the engine does not run yet, and which are invalid and why (``-s`` or ``-rP`` shows it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.engine.batch import evaluate_batch
from runner.engine.reference import ReferenceEngine
from runner.engine.results import CostTable
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.errors import NotSupportedError
from runner.policy import parse_valid_policy, validate_policy
from runner.scenario import load_scenario
from tests.conftest import COMPAT, EXPERIMENTS
from tests.runner.engine.strategies import assert_tables_equal

POLICIES = "simulator/policies"
TEST_POLICIES = f"{POLICIES}/test_policies"
EXP2 = EXPERIMENTS / "castro" / "scenarios" / "exp2.yaml"
SEEDS = (42, 1, 2, 3)


def names(folder: str) -> list[str]:
    """Policy file names, for parametrizing (empty without the corpus: the fixture skips)."""
    path = COMPAT / folder
    return sorted(p.name for p in path.glob("*.json")) if path.is_dir() else []


def read(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    assert isinstance(doc, dict)
    return doc


def run_in_exp2(doc: dict[str, Any], fraction: float | None = None) -> CostTable:
    """Both Castro banks run ``doc`` on several exp2 days; the engines must agree."""
    if fraction is not None:
        doc = {**doc, "parameters": {**(doc.get("parameters") or {}), "initial_liquidity_fraction": fraction}}
    policy = parse_valid_policy(doc)
    sc = load_scenario(EXP2)
    setup = build_setup(sc, dict.fromkeys(sc.agent_ids, policy))
    schedules = [generate_schedule(sc.config, seed) for seed in SEEDS]
    table = evaluate_batch(setup, schedules)
    assert_tables_equal(table, CostTable.concat([ReferenceEngine(setup).run(s)[0] for s in schedules]))
    assert (table.costs >= 0).all()
    return table


def test_test_policies_are_there(compat_dir: Path) -> None:
    assert len(names(TEST_POLICIES)) >= 18


@pytest.mark.parametrize("fraction", [0.05, 0.5])
@pytest.mark.parametrize("name", names(TEST_POLICIES))
def test_simcash_test_policy_validates_and_runs(compat_dir: Path, name: str, fraction: float) -> None:
    doc = read(compat_dir / TEST_POLICIES / name)
    assert validate_policy(doc) == []
    table = run_in_exp2(doc, fraction)
    assert table.arrived_count.sum() > 0


def classify(doc: Any) -> tuple[str, str]:
    """("runs" | "not runnable" | "invalid", detail) for a policy document."""
    errors = validate_policy(doc)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return "invalid", errors[0] + more
    try:
        table = run_in_exp2(doc, 0.5)
    except NotSupportedError as exc:
        return "not runnable", str(exc)
    return "runs", f"exp2 total cost {int(table.totals()[0].sum()):,} cents (seed 42)"


def test_other_simcash_policies_report(compat_dir: Path) -> None:
    """Report which of SimCash's other policies parse and run, and why the others do not.

    Asserted only: validation never crashes, and a policy that validates either runs (with
    both engines agreeing) or is refused with `NotSupportedError` before any tick.
    """
    files = names(POLICIES)
    assert files
    rows = {name: classify(read(compat_dir / POLICIES / name)) for name in files}
    width = max(map(len, rows))
    lines = [f"{name:<{width}}  {kind:<12}  {detail}" for name, (kind, detail) in rows.items()]
    counts = {k: sum(1 for kind, _ in rows.values() if kind == k) for k in ("runs", "not runnable", "invalid")}
    print(f"\nSimCash policies ({counts}):\n  " + "\n  ".join(lines))
