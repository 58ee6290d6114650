"""The fast settlement pass with deferred crediting (`rounds`: each lane's fitting prefix
at once, round after round) equals the rule applied one payment at a time.

The engine-level parity tests compare whole days with the reference; this draws the pass's
inputs directly on a real `BatchState`: rows in lane order, needs, balances and credit limits
of every size (to 2**59, where per-lane sums no longer fit a float64 and `lane_sum` adds in
int64), so that every way a lane's pass can go (nothing fits, all fit, a payment skipped then
later smaller ones settling, credit in use) is drawn far more often than on a simulated day.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from runner.engine.batch_settlement import rounds
from runner.engine.batch_state import BatchState, build_state
from runner.engine.rules import available_liquidity
from runner.engine.schedule import generate_schedule
from runner.engine.schedule_batch import ScheduleBatch
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
    ok = rounds(day, rows)
    np.testing.assert_array_equal(ok, want)
    np.testing.assert_array_equal(day.balance, want_balance)
    np.testing.assert_array_equal(day.incoming, want_incoming)
