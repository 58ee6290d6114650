"""Engine invariants on random scenarios and policies.

* money is conserved: payments, offsets, scheduled settlements and direct transfers only move
  money between banks, and pooled liquidity is brought in at the start of a day and returned
  at its end (`runner.engine.setup.allocation`: ``floor(pool × f)``, 0 without a pool). So
  after the last tick of a full day the final balances sum to the opening balances; when the
  horizon ends mid-day, the current day's allocations are still in the accounts and
  ``Σ final = Σ opening + Σ allocation`` (every bank's allocation is the same each day: day 0
  allocates for all banks, later days for banks with a pool, and banks without a pool
  allocate 0 either way);
* every cost component is ≥ 0; settled ≤ arrived (count and value); arrived = settled +
  unsettled (checked against the reference engine's event trace);
* results do not depend on how samples are split into batches ("1 or N workers") nor on
  their order in a batch;
* the event trace does not change the results.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runner.engine.batch import evaluate_batch
from runner.engine.rates import BPS_DEN, COMPONENT, DELAY_DEN, mul_div_int
from runner.engine.reference import ReferenceEngine
from runner.engine.results import CostTable
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.errors import SimulationError
from runner.policy import named_policy, parse_valid_policy
from runner.scenario import scenario_from_dict
from tests.runner.engine.strategies import (
    Case,
    assert_tables_equal,
    cases,
    engine_settings,
    scenario_dicts,
)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf/NaN fields in policies


def run_batch(case: Case) -> CostTable | None:
    """The batch table of ``case``, or None when a policy raises `SimulationError`."""
    _, setup, schedules = case.build()
    try:
        return evaluate_batch(setup, schedules)
    except SimulationError:
        return None


@engine_settings(100)
@given(case=cases(max_samples=3))
def test_money_is_conserved(case: Case) -> None:
    table = run_batch(case)
    if table is None:
        return
    _, setup, _ = case.build()
    expected = int(setup.opening.sum())
    if setup.horizon % setup.ticks_per_day:  # mid-day: today's pool allocations are still in
        expected += int(setup.allocation.sum())
    assert table.final_balance.sum(axis=1).tolist() == [expected] * table.n_samples


@engine_settings(100)
@given(case=cases(max_samples=3))
def test_costs_and_counts_are_consistent(case: Case) -> None:
    table = run_batch(case)
    if table is None:
        return
    _, setup, schedules = case.build()
    assert table.costs.shape == (len(schedules), setup.days_simulated, setup.n_agents, len(COMPONENT))
    assert (table.costs >= 0).all(), "a cost component is negative"
    assert (table.settled_count <= table.arrived_count).all()
    assert (table.settled_value <= table.arrived_value).all()
    assert (table.delay_ticks >= 0).all()
    assert (table.settlement_rates() <= 1).all()
    # arrivals are exactly the scheduled payments inside the horizon, by sender and day
    for k, sched in enumerate(schedules):
        inside = sched.arrival < setup.horizon
        day = sched.arrival[inside] // setup.ticks_per_day
        count = np.zeros((setup.days_simulated, setup.n_agents), dtype=np.int64)
        value = np.zeros_like(count)
        np.add.at(count, (day, sched.sender[inside]), 1)
        np.add.at(value, (day, sched.sender[inside]), sched.amount[inside])
        np.testing.assert_array_equal(table.arrived_count[k], count)
        np.testing.assert_array_equal(table.arrived_value[k], value)


@engine_settings(60)
@given(case=cases(min_samples=1, max_samples=1))
def test_arrived_is_settled_plus_unsettled(case: Case) -> None:
    """The trace's own bookkeeping agrees with the table: every arrival settles at most once,
    and what has not settled is exactly what the engine reports unsettled at end of day."""
    _, setup, (sched,) = case.build()
    try:
        table, events = ReferenceEngine(setup).run(sched, trace=True)
    except SimulationError:
        return
    kinds = Counter(e["type"] for e in events)
    arrived = [e["tx"] for e in events if e["type"] == "Arrival"]  # split parts included
    settled = [e["tx"] for e in events if e["type"] == "Settlement" and e["tx"] is not None]
    parts = {e["tx"]: e["children"] for e in events if e["type"] == "Split"}
    assert len(set(settled)) == len(settled), "a payment settled twice"
    assert set(settled) <= set(arrived)
    assert not set(settled) & set(parts), "a split payment settled itself"

    def done(tx: int) -> bool:  # a split payment is settled when all its parts are
        return all(done(c) for c in parts[tx]) if tx in parts else tx in settled

    scenario = [e["tx"] for e in events if e["type"] == "Arrival" and "parent" not in e]
    assert int(table.arrived_count.sum()) == len(scenario)
    assert int(table.settled_count.sum()) == sum(done(tx) for tx in scenario)
    assert kinds["EndOfDay"] == setup.horizon // setup.ticks_per_day
    end_of_day = [e for e in events if e["type"] == "EndOfDay"]
    if setup.horizon % setup.ticks_per_day == 0 and end_of_day:
        unsettled = end_of_day[-1]["unsettled"]
        assert len(arrived) == len(settled) + len(parts) + unsettled
    # the trace is an observer: results are the same without it
    assert_tables_equal(ReferenceEngine(setup).run(sched)[0], table, "trace=False")


@engine_settings(50)
@given(case=cases(min_samples=2, max_samples=6), data=st.data())
def test_results_do_not_depend_on_batching(case: Case, data: st.DataObject) -> None:
    """Any split of the samples into batches (1 or N workers), in any order, gives the same rows."""
    _, setup, schedules = case.build()
    try:
        whole = evaluate_batch(setup, schedules)
    except SimulationError:
        return
    n = len(schedules)
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1)), label="cuts"))
    bounds = [0, *cuts, n]
    parts = [evaluate_batch(setup, schedules[a:b]) for a, b in pairwise(bounds)]
    assert_tables_equal(CostTable.concat(parts), whole, f"split at {cuts}")
    order = data.draw(st.permutations(range(n)), label="order")
    shuffled = evaluate_batch(setup, [schedules[i] for i in order])
    assert_tables_equal(shuffled, whole.select(order), f"order {order}", decisions=False)
    assert shuffled.decisions == whole.decisions
    for k in range(n):
        one = evaluate_batch(setup, [schedules[k]])
        assert_tables_equal(one, whole.select([k]), f"sample {k} alone", decisions=False)


@engine_settings(40)
@given(raw=scenario_dicts(), seed=st.integers(0, 2**32 - 1))
def test_liquidity_rich_fifo_day_settles_everything_on_arrival(raw: dict[str, Any], seed: int) -> None:
    """With more money than anyone can spend and Fifo, every payment settles when it arrives:
    no delay, no penalties, no overdraft; the only cost is the pool's opportunity cost, charged
    every tick on the allocated amount."""
    limit_keys = ("bilateral_limits", "multilateral_limit", "limits")  # caps whatever the money
    agents = [{**{k: v for k, v in a.items() if k not in limit_keys}, "opening_balance": 10**10} for a in raw["agents"]]
    raw = {
        **raw,
        "agents": agents,
        "scenario_events": [
            e for e in raw["scenario_events"] if e["type"] not in ("DirectTransfer", "ScheduledSettlement")
        ],
    }
    sc = scenario_from_dict(raw)
    fifo = parse_valid_policy(named_policy("Fifo"))
    setup = build_setup(sc, dict.fromkeys(sc.agent_ids, fifo))
    sched = generate_schedule(sc.config, seed, setup.horizon)
    table = evaluate_batch(setup, [sched])
    assert_tables_equal(table, ReferenceEngine(setup).run(sched)[0])
    np.testing.assert_array_equal(table.settled_count, table.arrived_count)
    assert int(table.delay_ticks.sum()) == 0
    for name in ("overdraft", "delay", "deadline_penalty", "eod_penalty"):
        assert int(table.costs[..., COMPONENT[name]].sum()) == 0, name
    per_tick = [mul_div_int(int(a), setup.rates.liquidity, BPS_DEN, half_up=True) for a in setup.allocation]
    expected = np.array([[setup.ticks_per_day * x for x in per_tick]] * setup.days_simulated)
    np.testing.assert_array_equal(table.costs[0, :, :, COMPONENT["liquidity_opportunity"]], expected)


def _settle_ticks(events: list[dict[str, Any]], n: int) -> np.ndarray:
    """Settlement tick of each payment from the trace (a huge tick when never settled)."""
    ticks = np.full(n, 10**9, dtype=np.int64)
    for e in events:
        if e["type"] == "Settlement" and e["tx"] is not None:
            ticks[e["tx"]] = e["tick"]
    return ticks


@engine_settings(60)
@given(case=cases(min_samples=1, max_samples=1))
def test_costs_follow_the_spec(case: Case) -> None:
    """Penalties, delay and liquidity costs recomputed from the schedule and the settlement
    ticks alone (docs/engine.md, "Costs" and "Decisions"): the deadline penalty once per payment unsettled at the end of
    its deadline tick (dropped ones included); the end-of-day penalty on every payment still
    unsettled at the end of a day (only overdue ones with ``eod_penalty_scope: overdue``); the
    pool's opportunity cost every tick; and — when neither a policy nor escalation changes
    priorities — the delay cost of everything queued, ×overdue and priority multipliers,
    rounded once per bank and tick."""
    _, setup, (sched,) = case.build()
    try:
        table, events = ReferenceEngine(setup).run(sched, trace=True)
    except SimulationError:
        return
    # recomputed per scenario payment: a day with splits is checked by the hand-worked
    # splitting tests, the parity test and the oracle differential test instead
    assume(not any(e["type"] == "Split" for e in events))
    r, tpd, horizon = setup.rates, setup.ticks_per_day, setup.horizon
    days, n_agents = setup.days_simulated, setup.n_agents
    settle = _settle_ticks(events, sched.n_payments)
    expected = np.zeros((days, n_agents, len(COMPONENT)), dtype=np.int64)
    weight = np.zeros((horizon, n_agents), dtype=np.int64)
    for i in range(sched.n_payments):
        a, amount, arrival, deadline = (
            int(sched.sender[i]),
            int(sched.amount[i]),
            int(sched.arrival[i]),
            int(sched.deadline[i]),
        )
        if arrival >= horizon:
            continue
        late = deadline + 1  # the tick it goes overdue at, if still unsettled after `deadline`
        if late < horizon and settle[i] > deadline:
            expected[late // tpd, a, COMPONENT["deadline_penalty"]] += r.deadline_penalty.of_int(amount)
        for end in range(tpd - 1, horizon, tpd):
            if arrival <= end < settle[i] and (setup.eod_all_unsettled or deadline < end):
                expected[end // tpd, a, COMPONENT["eod_penalty"]] += r.eod_penalty.of_int(amount)
        for t in range(arrival, min(int(settle[i]), horizon)):  # queued at t's accrual
            weight[t, a] += amount * r.delay_weight_int(int(sched.priority[i]), t > deadline)
    for t in range(horizon):
        for a in range(n_agents):
            expected[t // tpd, a, COMPONENT["liquidity_opportunity"]] += mul_div_int(
                int(setup.allocation[a]), r.liquidity, BPS_DEN, half_up=True
            )
            expected[t // tpd, a, COMPONENT["delay"]] += mul_div_int(
                int(weight[t, a]), r.delay, DELAY_DEN, half_up=True
            )
    checked = ["deadline_penalty", "eod_penalty", "liquidity_opportunity"]
    escalation = case.scenario.get("priority_escalation") or {}
    if not escalation.get("enabled") and not any(
        "Reprioritize" in str(p) or "priority_flag" in str(p) for p in case.policies
    ):
        checked.append("delay")  # priorities stay as drawn
    for name in checked:
        np.testing.assert_array_equal(
            table.costs[0, ..., COMPONENT[name]], expected[..., COMPONENT[name]], err_msg=name
        )
