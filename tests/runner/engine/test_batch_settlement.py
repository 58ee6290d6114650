"""The fast settlement pass with deferred crediting (`rounds`: each lane's fitting prefix
at once, round after round) equals the rule applied one payment at a time.

The engine-level parity tests compare whole days with the reference; this draws the pass's
inputs directly on a real `BatchState`: rows in lane order, needs, balances and credit limits
of every size (to 2**59, where per-lane sums no longer fit a float64 and `lane_sum` adds in
int64), so that every way a lane's pass can go (nothing fits, all fit, a payment skipped then
later smaller ones settling, credit in use) is drawn far more often than on a simulated day.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st

from runner.engine import batch_settlement
from runner.engine.batch_rounds import available, rounds
from runner.engine.batch_settlement import REFINE_FROM, may_settle, scan
from runner.engine.batch_state import BatchState, build_state, layout_of
from runner.engine.lane_sum import lane_sum
from runner.engine.limits import NO_LIMIT
from runner.engine.rules import available_liquidity
from runner.engine.schedule import generate_schedule
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup, build_setup
from runner.policy import named_policy, parse_valid_policy
from runner.scenario import scenario_from_dict
from runner.scenario.loader import Scenario
from tests.runner.engine.strategies import engine_settings
from tests.runner.engine.test_batch_incremental import split_day

SEEDS = (0, 1, 2)  # 3 samples of 6 banks: 18 lanes


SETUP, SCENARIO = split_day()  # deferred crediting, no limits: the case `rounds` serves
DAY: BatchState = build_state(SETUP, ScheduleBatch.of([generate_schedule(SCENARIO.config, s) for s in SEEDS]), True)
N_LANES = DAY.n_lanes


@st.composite
def passes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows in lane order (each lane's in drawn order), their needs, and each lane's balance
    and credit limit. A drawn scale makes every size likely (few rows at the largest, so
    that the sums still fit in int64)."""
    top = 2 ** draw(st.sampled_from([1, 3, 6, 14, 20, 40, 55, 59]))  # small: exact fits are common
    most = 60 if top < 2**56 else 8
    lanes = draw(st.sets(st.integers(0, N_LANES - 1), min_size=1, max_size=4))  # several rows per lane
    pool = np.flatnonzero(np.isin(DAY.layout.sender_lane, sorted(lanes))).tolist()
    rows = np.array(draw(st.lists(st.sampled_from(pool), max_size=most, unique=True)), dtype=np.int64)
    rows = rows[np.argsort(DAY.layout.sender_lane[rows], kind="stable")]
    need = np.array([draw(st.integers(1, top)) for _ in rows], dtype=np.int64)
    balance = np.array([draw(st.integers(-top, 2 * top)) for _ in range(N_LANES)], dtype=np.int64)
    limit = np.array([draw(st.sampled_from([0, 0, top // 3, top])) for _ in range(N_LANES)], dtype=np.int64)
    return rows, need, balance, limit


@engine_settings(300)
@given(case=passes())
def test_rounds_settle_as_the_rule_one_payment_at_a_time(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    rows, need, balance, limit = case
    day = DAY  # a real state whose pass inputs are all overwritten here
    day.remaining[:] = 0
    day.remaining[rows] = need
    day.balance, day.overdraft_limit = balance.copy(), limit.copy()
    day.incoming = np.zeros(N_LANES, dtype=np.int64)
    day.exact = False  # the amounts drawn may be too large for float sums
    lay = day.layout
    # the rule: each lane's payments in order, each settles if its sender can pay it now
    want_balance, want_incoming = balance.copy(), np.zeros(N_LANES, dtype=np.int64)
    want = np.zeros(rows.size, dtype=bool)
    for i, (row, x) in enumerate(zip(rows, need, strict=True)):
        lane = lay.sender_lane[row]
        if x <= available_liquidity(int(want_balance[lane]), int(limit[lane])):
            want[i] = True
            want_balance[lane] -= x
            want_incoming[lay.receiver_lane[row]] += x
    ok, paid = rounds(day, rows)
    assert paid is None  # no runs on this day
    np.testing.assert_array_equal(ok, want)
    np.testing.assert_array_equal(day.balance, want_balance)
    np.testing.assert_array_equal(day.incoming, want_incoming)


# ---------------------------------------------------------------------- runs of parts
# With a split payment's row standing for its parts (`runner.engine.batch_runs`), `rounds`
# settles a run whole, or the parts its lane can pay when it is the first entry of its lane
# not to fit: the same as the rule applied to each part in turn.

RUNS_SETUP, RUNS_SCENARIO = split_day(rows=False)
RUNS_DAY: BatchState = build_state(
    RUNS_SETUP, ScheduleBatch.of([generate_schedule(RUNS_SCENARIO.config, s) for s in SEEDS]), True
)


@st.composite
def runs(draw: st.DrawFn, n: int, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``n`` rows: parts left (1–5), every part's amount but the last's, the last's (a
    remainder of at most ``count − 1`` more; a row of one part is a payment not split)."""
    left = np.array([draw(st.integers(1, 5)) for _ in range(n)], dtype=np.int64)
    each = np.array([draw(st.integers(1, max(1, top // 8))) for _ in range(n)], dtype=np.int64)
    last = each + np.array([draw(st.integers(0, 4)) for _ in range(n)], dtype=np.int64)
    return left, each, last


@engine_settings(300)
@given(case=passes(), data=st.data())
def test_rounds_settle_runs_as_the_rule_one_part_at_a_time(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    rows, need, balance, limit = case
    top = max(int(need.max(initial=1)), 8)
    left, each, last = data.draw(runs(rows.size, top))
    day = RUNS_DAY
    assert day.part_runs
    day.has_runs = True
    day.parts_left = np.ones(day.n_rows, dtype=np.int64)
    day.part_next = np.zeros(day.n_rows, dtype=np.int64)
    day.remaining[:] = 0
    day.parts_left[rows] = left
    day.remaining[rows] = (left - 1) * each + last
    day.part_next[rows] = np.where(left >= 2, each, last)
    day.balance, day.overdraft_limit = balance.copy(), limit.copy()
    day.incoming = np.zeros(N_LANES, dtype=np.int64)
    day.exact = False
    lay = day.layout
    # the rule, part by part: each lane's payments in order, each payment's parts in order
    want_balance, want_incoming = balance.copy(), np.zeros(N_LANES, dtype=np.int64)
    paid_parts = np.zeros(rows.size, dtype=np.int64)
    for i, row in enumerate(rows):
        lane = lay.sender_lane[row]
        for x in [int(each[i])] * int(left[i] - 1) + [int(last[i])]:
            if x <= available_liquidity(int(want_balance[lane]), int(limit[lane])):
                paid_parts[i] += 1
                want_balance[lane] -= x
                want_incoming[lay.receiver_lane[row]] += x
    ok, paid = rounds(day, rows)
    event("some run paid in part" if paid is not None else "no run paid in part")
    np.testing.assert_array_equal(ok, paid_parts == left)
    np.testing.assert_array_equal(day.balance, want_balance)
    np.testing.assert_array_equal(day.incoming, want_incoming)
    still = ~ok
    left_now = left - paid_parts
    np.testing.assert_array_equal(day.parts_left[rows[still]], left_now[still])
    np.testing.assert_array_equal(day.remaining[rows[still]], ((left_now - 1) * each + last)[still])
    np.testing.assert_array_equal(day.part_next[rows[still]], np.where(left_now >= 2, each, last)[still])
    if paid is not None:  # the parts paid of runs that stay open, or settle later in the pass
        got = np.zeros(day.n_rows, dtype=np.int64)
        np.add.at(got, paid[0], paid[1])
        settled_in_part = np.where(still, paid_parts * each, 0)
        np.testing.assert_array_equal(got[rows[still]], settled_in_part[still])


# ---------------------------------------------------------------------- scan
# The pass with immediate crediting or limits (`scan`): each sample's payments in order, an
# inflow usable by the payments after it, a payment over a limit skipped. Its fast path
# settles easy samples at once and steps only through the payments `may_settle` keeps.


def limits_day() -> tuple[EngineSetup, Scenario]:
    """Six banks paying each other, immediate crediting, every bank with a bilateral limit
    towards its neighbour and a multilateral limit (the pass inputs are drawn over them)."""
    agents = [
        {
            "id": f"B{i}",
            "opening_balance": 0,
            "unsecured_cap": 0,
            "bilateral_limits": {f"B{(i + 1) % 6}": 50_000},
            "multilateral_limit": 120_000,
            "arrival_config": {
                "rate_per_tick": 1.5,
                "amount_distribution": {"type": "LogNormal", "mean": 10_000, "std_dev": 6_000},
                "deadline_range": [2, 8],
            },
        }
        for i in range(6)
    ]
    raw = {
        "simulation": {"ticks_per_day": 20, "num_days": 1, "rng_seed": 7},
        "cost_rates": {"delay_cost_per_tick_per_cent": 0.001, "deadline_penalty": 500},
        "lsm_config": {"enable_bilateral": False, "enable_cycles": False},
        "agents": agents,
    }
    scenario = scenario_from_dict(raw, source="test")
    return build_setup(scenario, dict.fromkeys(scenario.agent_ids, parse_valid_policy(named_policy("Fifo")))), scenario


LIMITS_SETUP, LIMITS_SCENARIO = limits_day()
LIMITS_BATCH = ScheduleBatch.of([generate_schedule(LIMITS_SCENARIO.config, s) for s in SEEDS])
N_AGENTS = LIMITS_SETUP.n_agents


@dataclass
class ScanCase:
    rows: np.ndarray  # the pass's sequence (samples interleaved, each in its own order)
    need: np.ndarray
    balance: np.ndarray
    limit: np.ndarray  # credit limit per lane
    bilateral: np.ndarray | None  # [lane, counterparty] (NO_LIMIT: none); None: no limits
    multilateral: np.ndarray | None
    outflow_to: np.ndarray  # used so far today
    outflow_total: np.ndarray


@st.composite
def scan_cases(draw: st.DrawFn) -> ScanCase:
    """Sequences long enough for `may_settle` to refine (over `REFINE_FROM` per sample),
    liquidity scarce enough for queues to stick, limits tight enough to bite."""
    top = 2 ** draw(st.sampled_from([3, 8, 14, 40]))
    pool = draw(st.sampled_from([6, 12, 18]))  # lanes 0..pool-1: one, two or three samples
    rows_pool = np.flatnonzero(pool > LIMITS_BATCH_LANES).tolist()
    rows = np.array(draw(st.lists(st.sampled_from(rows_pool), min_size=1, max_size=40, unique=True)), dtype=np.int64)
    need = np.array([draw(st.integers(1, top)) for _ in rows], dtype=np.int64)
    n_lanes = len(SEEDS) * N_AGENTS
    balance = np.array([draw(st.integers(-top, 2 * top)) for _ in range(n_lanes)], dtype=np.int64)
    limit = np.array([draw(st.sampled_from([0, 0, top // 3, top])) for _ in range(n_lanes)], dtype=np.int64)
    cap = st.sampled_from([NO_LIMIT, NO_LIMIT, 0, top, 3 * top])
    bilateral = multilateral = None
    if draw(st.booleans()):
        bilateral = np.array([[draw(cap) for _ in range(N_AGENTS)] for _ in range(n_lanes)], dtype=np.int64)
        multilateral = np.array([draw(cap) for _ in range(n_lanes)], dtype=np.int64)
    used = st.integers(0, 2 * top)
    outflow_to = np.array([[draw(used) for _ in range(N_AGENTS)] for _ in range(n_lanes)], dtype=np.int64)
    outflow_total = outflow_to.sum(axis=1)
    return ScanCase(rows, need, balance, limit, bilateral, multilateral, outflow_to, outflow_total)


LIMITS_BATCH_LANES = layout_of(LIMITS_BATCH, N_AGENTS, LIMITS_SETUP.horizon).sender_lane


def scan_day(case: ScanCase, fast: bool) -> BatchState:
    """A real state (immediate crediting) whose pass inputs are the case's."""
    day = build_state(LIMITS_SETUP, LIMITS_BATCH, fast)
    day.remaining[:] = 0
    day.remaining[case.rows] = case.need
    day.balance, day.overdraft_limit = case.balance.copy(), case.limit.copy()
    day.exact = False
    if case.bilateral is None or case.multilateral is None:  # as a day without limits has them
        day.bilateral_limit = day.multilateral_limit = day.outflow_to = day.outflow_total = np.zeros(0, dtype=np.int64)
        day.has_limits = False
    else:
        day.bilateral_limit, day.multilateral_limit = case.bilateral.copy(), case.multilateral.copy()
        day.outflow_to, day.outflow_total = case.outflow_to.copy(), case.outflow_total.copy()
    return day


@contextmanager
def patched(module: Any, name: str, value: Any) -> Iterator[None]:
    """``module.name = value`` for the block (hypothesis runs many examples per test call,
    so pytest's function-scoped monkeypatch does not fit)."""
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def pass_inflows(day: BatchState, rows: np.ndarray, need: np.ndarray) -> np.ndarray:
    """What a pass over ``rows`` pays into each lane, at most (immediate crediting)."""
    return lane_sum(day.layout.receiver_lane[rows], need, day.n_lanes, False)


def scan_by_the_rule(day: BatchState, case: ScanCase) -> tuple[np.ndarray, np.ndarray]:
    """The rule one payment at a time: settled mask and the balances after."""
    lay = day.layout
    balance = case.balance.copy()
    out_to, out_total = case.outflow_to.copy(), case.outflow_total.copy()
    want = np.zeros(case.rows.size, dtype=bool)
    for i, (row, x) in enumerate(zip(case.rows.tolist(), case.need.tolist(), strict=True)):
        lane, to = int(lay.sender_lane[row]), int(day.receiver[row])
        if x > available_liquidity(int(balance[lane]), int(case.limit[lane])):
            continue
        if case.bilateral is not None and case.multilateral is not None:
            bil, mul = int(case.bilateral[lane, to]), int(case.multilateral[lane])
            if (bil != NO_LIMIT and out_to[lane, to] + x > bil) or (mul != NO_LIMIT and out_total[lane] + x > mul):
                continue
            out_to[lane, to] += x
            out_total[lane] += x
        want[i] = True
        balance[lane] -= x
        balance[lay.receiver_lane[row]] += x
    return want, balance


@engine_settings(300)
@given(case=scan_cases())
def test_scan_settles_as_the_rule_one_payment_at_a_time(case: ScanCase) -> None:
    day = scan_day(case, fast=False)
    want, want_balance = scan_by_the_rule(day, case)
    at = np.arange(case.rows.size)
    paid_in = pass_inflows(day, case.rows, case.need)
    for cap in (1, 2):  # stopped early, the bound is as sound (only looser)
        with patched(batch_settlement, "REFINE_ROUNDS", cap):
            assert not (want & ~may_settle(day, case.rows, at, available(day), paid_in)).any(), f"{cap} rounds"
    kept = may_settle(day, case.rows, at, available(day), paid_in)
    assert not (want & ~kept).any(), "may_settle ruled out a payment that settles"
    lanes = day.layout.sender_lane[case.rows]
    simple = case.need <= available(day)[lanes] + paid_in[lanes]  # the bound before refinement
    event(f"may_settle rules out {'more than the simple bound' if (simple & ~kept).any() else 'no more'}")
    for fast in (False, True):
        day = scan_day(case, fast)
        ok = scan(day, case.rows, t=3)
        np.testing.assert_array_equal(ok, want, err_msg=f"fast={fast}")
        np.testing.assert_array_equal(day.balance, want_balance, err_msg=f"fast={fast}")


def test_may_settle_unwinds_a_stuck_chain_the_simple_bound_keeps() -> None:
    """Two banks with nothing to pay from, each of their 2·k alternating payments to the
    other only payable from the one before it: every one fails. The bound on all inflows
    of the pass keeps them all; the refined one rules them out until at most `REFINE_FROM`
    steps are left, and the pass's answer is the rule's."""
    lay = layout_of(LIMITS_BATCH, N_AGENTS, LIMITS_SETUP.horizon)
    a = np.flatnonzero((lay.sender_lane == 0) & (LIMITS_BATCH.columns["receiver"] == 1))
    b = np.flatnonzero((lay.sender_lane == 1) & (LIMITS_BATCH.columns["receiver"] == 0))
    k = min(a.size, b.size)
    assert k > REFINE_FROM
    rows = np.ravel(np.column_stack((a[:k], b[:k])))
    n_lanes = len(SEEDS) * N_AGENTS
    no_limits = np.zeros((n_lanes, N_AGENTS), dtype=np.int64)
    case = ScanCase(
        rows,
        np.full(rows.size, 100, dtype=np.int64),
        np.zeros(n_lanes, dtype=np.int64),
        np.zeros(n_lanes, dtype=np.int64),
        None,
        None,
        no_limits,
        no_limits.sum(axis=1),
    )
    day = scan_day(case, fast=True)
    at = np.arange(rows.size)
    paid_in = pass_inflows(day, rows, case.need)
    simple = case.need <= paid_in[day.layout.sender_lane[rows]]
    assert simple.all()
    kept = may_settle(day, rows, at, available(day), paid_in)
    assert np.count_nonzero(kept) <= REFINE_FROM  # refined until the pass has at most that many steps
    assert not scan(day, rows, t=0).any()
    np.testing.assert_array_equal(day.balance, case.balance)
