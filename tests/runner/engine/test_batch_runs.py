"""Split payments kept as runs of parts (`runner.engine.batch_runs`) give the reference's results.

The engine parity tests draw every feature at once, so days where the batch engine keeps a
split payment's parts as one run (deferred crediting; no LSM, limits, ``priority_mode``,
Queue-2 action or StaggerSplit) are a small share of their cases. Every case here is such a
day, with splitting policies, mostly short of liquidity, over one or two days: the batch
engine with runs (``fast``), the same engine with a row per part (``fast=False``) and the
reference engine must agree to the cent, and the runs must really be in use.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from runner.engine.batch import cost_table, evaluate_batch, tick
from runner.engine.batch_state import build_state
from runner.engine.results import CostTable
from runner.engine.schedule_batch import ScheduleBatch
from runner.errors import SimulationError
from runner.policy import named_policy
from tests.runner.engine.strategies import (
    MAX_AGENTS,
    Case,
    assert_tables_equal,
    build_policy,
    build_scenario,
    engine_settings,
    seeds,
)
from tests.runner.engine.test_engine_parity import reference_tables

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf/NaN fields in policies

# actions that would take the day off the runs path (a Hold replaces them; StaggerSplit: a Split)
QUEUE2_ACTIONS = ("WithdrawFromRtgs", "ResubmitToRtgs")


def on_runs_path(node: dict[str, Any]) -> dict[str, Any]:
    """A payment tree whose StaggerSplits are Splits (of the same parts) and whose Queue-2
    actions are Holds."""
    if node["type"] == "condition":
        return {**node, "on_true": on_runs_path(node["on_true"]), "on_false": on_runs_path(node["on_false"])}
    if node["action"] == "StaggerSplit":
        return {"type": "action", "action": "Split", "parameters": {"num_splits": node["parameters"]["num_splits"]}}
    if node["action"] in QUEUE2_ACTIONS:
        return {"type": "action", "action": "Hold"}
    return node


def splitting_policy(seed: int, horizon: int) -> dict[str, Any]:
    """SimCash's LiquiditySplitting, or a random tree (maybe with a bank tree and collateral
    trees) that splits what the balance does not cover (in 2–6 parts, or a drawn number) and
    otherwise does what the random tree says."""
    r = random.Random(seed)
    if r.random() < 0.25:
        return named_policy("LiquiditySplitting", {"max_splits": r.randint(2, 6), "urgency_ticks": r.randint(0, 6)})
    doc = build_policy(
        r.randrange(2**32), horizon, r.randint(0, 2), r.choice([None, 0, 1]), r.randint(0, 2), True, r.random() < 0.3
    )
    tree = on_runs_path(doc["payment_tree"])
    parts = {"num_splits": {"value": r.choice([2, 3, 4, 6, r.uniform(0, 7)])}}
    doc["payment_tree"] = {
        "type": "condition",
        "condition": {"op": ">=", "left": {"field": "balance"}, "right": {"field": "amount"}},
        "on_true": tree,
        "on_false": {
            "type": "action",
            "action": r.choice(["Split", "PaceAndRelease"]),
            "parameters": parts,
        },
    }
    return doc


@st.composite
def runs_cases(draw: st.DrawFn) -> Case:
    raw = build_scenario(
        draw(seeds),
        n_agents=draw(st.integers(2, MAX_AGENTS)),
        ticks_per_day=draw(st.integers(2, 12)),
        num_days=draw(st.integers(1, 2)),
        deferred=True,
        cap_at_eod=draw(st.booleans()),
        overdue_scope=draw(st.booleans()),
        bilateral=False,
        n_events=draw(st.integers(0, 5)),
        scarce=draw(st.sampled_from([True, True, False])),
        priorities=draw(st.booleans()),
        streams=draw(st.booleans()),
        collateral=draw(st.booleans()),
    )
    raw["priority_mode"] = False
    n = len(raw["agents"])
    episode = raw["simulation"]["ticks_per_day"] * raw["simulation"]["num_days"]
    n_policies = draw(st.integers(1, n))
    policies = [splitting_policy(draw(seeds), episode) for _ in range(n_policies)]
    assignment = draw(st.lists(st.integers(0, n_policies - 1), min_size=n, max_size=n))
    samples = draw(st.lists(seeds, min_size=1, max_size=4))
    return Case(raw, policies, assignment, samples, draw(st.one_of(st.none(), st.integers(1, episode))))


@engine_settings(150)
@given(case=runs_cases())
def test_runs_give_the_reference_results(case: Case) -> None:
    _, setup, schedules = case.build()
    refs = reference_tables(setup, schedules)
    if any(t is None for t in refs):
        event("a policy raised SimulationError")
        with pytest.raises(SimulationError):
            evaluate_batch(setup, schedules)
        return
    day = build_state(setup, ScheduleBatch.of(schedules), True)
    assert day.part_runs  # every case is on the runs path
    for t in range(setup.horizon):
        tick(day, t)
    assert day.n_rows == day.n_payments  # a split added no row
    if day.has_runs:
        partly = bool((day.parts_left[day.q2] < day.part_count[day.q2]).any())
        event("split into runs, one partly paid at the end" if partly else "split into runs")
    else:
        event("nothing split")
    want = CostTable.concat([t for t in refs if t is not None])
    assert_tables_equal(cost_table(day), want, "runs")
    assert_tables_equal(evaluate_batch(setup, schedules, fast=False), want, "a row per part")
