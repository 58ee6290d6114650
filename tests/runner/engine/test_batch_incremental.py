"""What the batch engine keeps between ticks equals what it would recompute.

* Queue 2's delay weight (`runner.engine.batch_delay`), kept and updated as payments join,
  leave and go overdue, equals a recount over the queue after every tick's accrual.
* A splitting day never writes the batch's shared schedule columns and `Layout`, whether
  its parts are rows or runs (`runner.engine.batch_runs`).
* The part rows (`runner.engine.batch_rows`): a state array replaced between two splits is
  copied into the block, not lost, and the block's spare rows are never read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import event, given

from runner.engine.batch import cost_table, evaluate_batch, tick
from runner.engine.batch_delay import weights
from runner.engine.batch_rows import ROW
from runner.engine.batch_state import Q1, SETTLED, SPLIT, build_state, layout_of
from runner.engine.lane_sum import lane_sum
from runner.engine.rates import COMPONENT
from runner.engine.schedule import generate_schedule
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup, build_setup
from runner.errors import SimulationError
from runner.policy import parse_valid_policy
from runner.scenario import scenario_from_dict
from tests.runner.engine.strategies import Case, cases, engine_settings

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf/NaN fields in policies

RELEASE = {"type": "action", "action": "Release"}


def split_day(n_banks: int = 6, ticks: int = 20, pool: int = 30_000, *, rows: bool = True) -> tuple[EngineSetup, Any]:
    """A short day, liquidity scarce, every bank splitting in 3 what its balance does not
    cover, all parts released at once, deferred crediting. ``rows``: with a StaggerSplit
    releasing every part at once, so the parts are rows (`runner.engine.batch_rows`); else
    with a Split, whose parts the engine keeps as runs (`runner.engine.batch_runs`)."""
    split: dict[str, Any] = {"type": "action", "action": "Split", "parameters": {"num_splits": {"value": 3}}}
    if rows:
        split = {
            "type": "action",
            "action": "StaggerSplit",
            "parameters": {"num_splits": {"value": 3}, "stagger_first_now": {"value": 3}},
        }
    agents = [
        {
            "id": f"B{i}",
            "opening_balance": 0,
            "unsecured_cap": 0,
            "liquidity_pool": pool,
            "arrival_config": {
                "rate_per_tick": 1.5,
                "amount_distribution": {"type": "LogNormal", "mean": 10_000, "std_dev": 6_000},
                "deadline_range": [2, 8],
            },
        }
        for i in range(n_banks)
    ]
    raw = {
        "simulation": {"ticks_per_day": ticks, "num_days": 1, "rng_seed": 7},
        "deferred_crediting": True,
        "cost_rates": {"delay_cost_per_tick_per_cent": 0.001, "deadline_penalty": 500, "split_friction_cost": 3},
        "lsm_config": {"enable_bilateral": False, "enable_cycles": False},
        "agents": agents,
    }
    scenario = scenario_from_dict(raw, source="test")
    policy = parse_valid_policy(
        {
            "parameters": {"initial_liquidity_fraction": 1.0},
            "payment_tree": {
                "type": "condition",
                "condition": {
                    "op": "or",
                    "conditions": [
                        {"op": ">=", "left": {"field": "balance"}, "right": {"field": "amount"}},
                        {"op": "==", "left": {"field": "is_split"}, "right": {"value": 1}},
                    ],
                },
                "on_true": RELEASE,
                "on_false": split,
            },
        }
    )
    return build_setup(scenario, dict.fromkeys(scenario.agent_ids, policy)), scenario


def assert_kept_delay_is_a_recount(setup: EngineSetup, batch: ScheduleBatch) -> int:
    """Run the day tick by tick; after each tick, the kept Queue-2 weight (when kept for the
    current queue) equals a recount. Returns how many ticks had it kept."""
    day = build_state(setup, batch, True)
    kept_ticks = 0
    for t in range(setup.horizon):
        tick(day, t)
        kept = day.q2_delay
        if kept is None or kept.q2 is not day.q2:
            continue
        kept_ticks += 1
        recount = lane_sum(day.layout.sender_lane[day.q2], weights(day, day.q2, t), day.n_lanes, day.exact)
        np.testing.assert_array_equal(kept.total, recount, err_msg=f"tick {t}")
    return kept_ticks


@engine_settings(60)
@given(case=cases(min_samples=1, max_samples=3))
def test_kept_queue2_delay_equals_a_recount(case: Case) -> None:
    _, setup, schedules = case.build()
    try:
        kept = assert_kept_delay_is_a_recount(setup, ScheduleBatch.of(schedules))
    except SimulationError:
        event("a policy raised SimulationError")
        return
    event("kept" if kept else "never kept")


@pytest.mark.parametrize("rows", [True, False], ids=["part rows", "runs"])
@pytest.mark.parametrize("seeds", [(0,), (1, 2, 3)])
def test_kept_queue2_delay_on_a_splitting_day(seeds: tuple[int, ...], rows: bool) -> None:
    setup, scenario = split_day(rows=rows)
    batch = ScheduleBatch.of([generate_schedule(scenario.config, s) for s in seeds])
    assert assert_kept_delay_is_a_recount(setup, batch) > setup.horizon // 2


def test_the_splitting_days_keep_parts_as_rows_or_as_runs() -> None:
    """The two models the tests here rely on: the StaggerSplit day appends rows, the Split
    day keeps one row per payment (and splits runs of parts)."""
    for rows in (True, False):
        setup, scenario = split_day(rows=rows)
        day = build_state(setup, ScheduleBatch.of([generate_schedule(scenario.config, 0)]), True)
        for t in range(setup.horizon):
            tick(day, t)
        assert day.part_runs is not rows and day.has_runs is not rows
        assert (day.n_rows > day.n_payments) is rows
        if not rows:
            assert (day.part_count == 3).any() and (day.parts_left[day.q2] < day.part_count[day.q2]).any()


@pytest.mark.parametrize("rows", [True, False], ids=["part rows", "runs"])
def test_a_splitting_day_never_writes_the_shared_batch(rows: bool) -> None:
    setup, scenario = split_day(rows=rows)
    batch = ScheduleBatch.of([generate_schedule(scenario.config, s) for s in range(3)])
    columns = {k: v.copy() for k, v in batch.columns.items()}
    lay = layout_of(batch, setup.n_agents, setup.horizon)
    rows = {k: getattr(lay, k).copy() for k in ("sample", "sender_lane", "receiver_lane", "sender_lane_key")}
    due = [d.copy() for d in lay.by_deadline]
    first = evaluate_batch(setup, batch)
    assert int(first.costs[..., COMPONENT["split_friction"]].sum()) > 0  # the day did split
    for k, v in columns.items():
        np.testing.assert_array_equal(batch.columns[k], v, err_msg=k)
    for k, v in rows.items():
        np.testing.assert_array_equal(getattr(lay, k), v, err_msg=k)
    assert all(np.array_equal(a, b) for a, b in zip(lay.by_deadline, due, strict=True))
    again = evaluate_batch(setup, batch)  # the same batch, its cached layout reused
    for k in ("costs", "settled_count", "settle_tick", "final_balance"):
        np.testing.assert_array_equal(getattr(first, k), getattr(again, k), err_msg=k)


def test_a_replaced_state_array_is_copied_into_the_part_rows() -> None:
    setup, scenario = split_day()
    day = build_state(setup, ScheduleBatch.of([generate_schedule(scenario.config, 0)]), True)
    t = 0
    while day.part_rows is None and t < setup.horizon:  # until a first split
        tick(day, t)
        t += 1
    splits_before = int((day.status[: day.n_rows] == SPLIT).sum())
    day.priority = day.priority.copy()  # a step that replaces the array instead of writing it
    day.priority[:] = 7
    n = day.n_rows
    while day.n_rows == n and t < setup.horizon:  # until the next split appends rows
        tick(day, t)
        t += 1
    assert int((day.status[: day.n_rows] == SPLIT).sum()) > splits_before
    assert (day.priority[:n] == 7).all()


@pytest.mark.parametrize("seeds", [(0,), (1, 2, 3)])
def test_spare_part_rows_are_never_read(seeds: tuple[int, ...]) -> None:
    """Poison every spare row of the block after every tick with a copy of a real part, due
    at the next tick, queued or settled: the day's results do not move."""
    setup, scenario = split_day()
    batch = ScheduleBatch.of([generate_schedule(scenario.config, s) for s in seeds])
    day = build_state(setup, batch, True)
    poisoned = 0
    for t in range(setup.horizon):
        tick(day, t)
        rows = day.part_rows
        if rows is not None and rows.capacity > day.n_rows:
            real, spare = day.n_rows - 1, slice(day.n_rows, None)
            rows.block[:, spare] = rows.block[:, real : real + 1]
            rows.block[ROW["deadline"], spare] = t
            rows.block[ROW["settle_tick"], spare] = t
            rows.status[spare] = Q1 if t % 2 else SETTLED
            rows.lane_key[spare] = rows.lane_key[real]
            poisoned += 1
    assert poisoned > setup.horizon // 2
    clean = evaluate_batch(setup, batch)
    for k in ("costs", "settled_count", "settled_value", "delay_ticks", "settle_tick", "final_balance"):
        np.testing.assert_array_equal(getattr(cost_table(day), k), getattr(clean, k), err_msg=k)
