"""The batch engine: many samples of one setup at once, as int64 numpy arrays.

It follows `runner.engine.reference` rule for rule (the property tests hold it to the cent);
the difference is layout. The state is one `runner.engine.batch_state.BatchState` — the
payments of all samples end to end ("rows", each sample's in queue-entry order) and bank
accounts ``[sample × agent]`` ("lanes") — and each tick step is a plain function over it:

* Queue 1, Queue 2 and the dropped payments are index arrays, updated as payments move, so
  a tick touches only the payments present, never the whole day;
* policies decide every Queue-1 payment of the tick at once (`runner.engine.batch_policy`);
* settlement "in order, settle if affordable" runs per lane (`runner.engine.batch_settlement`);
* the LSM offsets pairs and settles cycles in Queue 2 (`runner.engine.batch_lsm`).

All work per tick is linear in the payments present. ``fast=False`` turns every batch
shortcut off (see `runner.engine.batch_state`): same results, simpler paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from runner.engine.batch_collateral import collateral_trees, run_timers
from runner.engine.batch_delay import queue2_weight, weights
from runner.engine.batch_lsm import run_lsm
from runner.engine.batch_policy import bank_trees, escalate, payment_pass, queue2_policy_pass
from runner.engine.batch_rounds import available
from runner.engine.batch_runs import part_penalties
from runner.engine.batch_settlement import credit, rank_steps, settle_released
from runner.engine.batch_split import due_rows, settled_roots
from runner.engine.batch_state import DROPPED, Q1, SETTLED, BatchState, build_state
from runner.engine.lane_sum import lane_sum
from runner.engine.rates import COMPONENT, COMPONENTS, DELAY_DEN, OVERDRAFT_DEN, mul_div
from runner.engine.results import CostTable
from runner.engine.schedule import Schedule
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup

__all__ = ["evaluate_batch"]


def evaluate_batch(setup: EngineSetup, schedules: Sequence[Schedule], *, fast: bool = True) -> CostTable:
    """Simulate every schedule under ``setup``; costs identical to the reference engine's.

    ``schedules`` may be a list of `Schedule` or a `ScheduleBatch` (no conversion needed).
    ``fast=False`` runs the simple path of every rule (for tests: the results are the same).

    Example:
        >>> schedules = [generate_schedule(cfg, s) for s in range(100)]  # doctest: +SKIP
        >>> table = evaluate_batch(setup, schedules)  # doctest: +SKIP
        >>> table.totals().shape
        (100, 2)
    """
    day = build_state(setup, ScheduleBatch.of(schedules), fast)
    for t in range(setup.horizon):
        tick(day, t)
    return cost_table(day)


def tick(day: BatchState, t: int) -> None:
    """One tick of every sample, in the reference's order (docs/engine.md, "A tick")."""
    setup = day.setup
    tpd = setup.ticks_per_day
    if t % tpd == 0 and t > 0:
        has_pool = day.pool > 0
        day.set_allocated(np.where(has_pool, day.allocation, day.allocated))
        day.balance += np.where(has_pool, day.allocation, 0)
    if day.layout.events_by_tick[t].size:
        scenario_events(day, t)
    _arrivals(day, t)
    _policies(day, t)
    if (setup.bilateral_lsm or setup.cycles) and day.q2.size:
        run_lsm(day, t)
    if day.collateral_trees:
        day.lane_cache = {}  # the queues moved since the trees of the tick's start
        collateral_trees(day, t, "end_of_tick_collateral_tree")
    if day.deferred:
        day.balance += day.incoming
        day.incoming[:] = 0
    accrue(day, t)
    if t % tpd == tpd - 1:
        end_of_day(day, t)


def _arrivals(day: BatchState, t: int) -> None:
    arrivals = day.layout.by_arrival[t]
    day.status[arrivals] = Q1
    if day.q1_in_queue_order:  # each lane's rows in queue order: arrivals join the end
        day.q1 = np.concatenate((day.q1, arrivals))
    else:  # Queue 1 stays in row order; arrivals come after every waiting payment of their
        # sample but interleave with other samples, hence the sort
        day.q1 = np.sort(np.concatenate((day.q1, arrivals))) if day.q1.size else arrivals
    day.lane_cache = {}
    day.current_tick = t


def _policies(day: BatchState, t: int) -> None:
    """Collateral and bank trees, timers, escalation, both payment passes, then RTGS
    settlement and the FIFO pass over Queue 2."""
    if day.collateral_trees:
        collateral_trees(day, t, "strategic_collateral_tree")
    if day.has_bank_tree:
        bank_trees(day, t)
    if day.collateral_trees:
        run_timers(day, t)
    escalate(day, t)
    released = payment_pass(day, t)
    if day.has_runs:  # the parts of this tick's due rows not settled before it (their penalties)
        day.due_left = day.parts_left[day.layout.by_deadline[t]]
    if day.queue2_actions and day.q2.size:
        queue2_policy_pass(day, t)
    if released.size or day.q2.size:
        settle_released(day, released, t)


def scenario_events(day: BatchState, t: int) -> None:
    """This tick's balance events, in file order within each sample.

    Fast path: samples where every paying lane covers all its outflows of the tick (transfers
    and scheduled settlements) from its available liquidity at the start: every scheduled
    settlement goes through whatever the order (inflows only add, and available falls by at
    most what is paid), so their events apply as net flows. The others (every sample on the
    simple path), one event per sample at a time.
    """
    lay = day.layout
    idx = lay.events_by_tick[t]
    n_lanes = day.n_lanes
    hard_sample = np.ones(day.n_samples, dtype=bool)
    if day.fast:
        flows = lane_sum(lay.flow_keys[t], lay.flow_amounts[t], 3 * n_lanes, lay.events_exact).reshape(3, n_lanes)
        out, direct_in, scheduled_in = flows
        hard_sample[:] = False
        hard_sample[lay.cap_change_samples[t]] = True  # a cap change: event by event
        hard_sample[np.flatnonzero(out > available(day)) // day.n_agents] = True
        if hard_sample.any():
            flows *= ~np.repeat(hard_sample, day.n_agents)  # only the easy samples' lanes move
        day.balance -= out
        day.balance += direct_in
        if day.deferred:
            day.incoming += scheduled_in
        else:
            day.balance += scheduled_in
        if not hard_sample.any():
            return
    rest = idx[hard_sample[lay.event_sample[idx]]]
    for step in rank_steps(lay.event_sample[rest]):
        e = rest[step]
        frm, to, amount = lay.event_from[e], lay.event_to[e], lay.event_amount[e]
        direct, cap = lay.event_direct[e], lay.event_cap_change[e]
        day.balance[frm[direct]] -= amount[direct]
        day.balance[to[direct]] += amount[direct]
        day.unsecured_cap[frm[cap]] += amount[cap]  # SimCash: CollateralAdjustment moves the cap
        day.overdraft_limit[frm[cap]] += amount[cap]
        scheduled = ~(direct | cap)
        ok = amount[scheduled] <= available(day, frm[scheduled])
        day.balance[frm[scheduled][ok]] -= amount[scheduled][ok]
        credit(day, to[scheduled][ok], amount[scheduled][ok])


# ---------------------------------------------------------------------- costs
def unsettled(day: BatchState) -> np.ndarray:
    return np.concatenate((day.q1, day.q2, day.dropped))


def accrue(day: BatchState, t: int) -> None:
    rates = day.setup.rates
    lanes_of = day.layout.sender_lane
    cost = day.tick_costs
    cost[:, COMPONENT["deadline_penalty"]] = 0
    due = due_all = due_rows(day, t)  # deadline t - 1: charged if unsettled, or settled now (late)
    if due.size:
        st = day.status[due]
        late = ((st >= Q1) & (st <= DROPPED)) | ((st == SETTLED) & (day.settle_tick[due] > day.deadline[due]))
        due = due[late]
        if due.size:
            if day.has_runs:  # each part not settled by its deadline pays
                penalty = part_penalties(day, due, day.due_left[late], rates.deadline_penalty)
            else:
                penalty = rates.deadline_penalty.of(day.amount[due])
            cost[:, COMPONENT["deadline_penalty"]] = lane_sum(lanes_of[due], penalty, day.n_lanes, day.exact)
    # delay weights (× 1000): Queue 1 and the dropped afresh, Queue 2's kept between ticks
    rows = np.concatenate((day.q1, day.dropped)) if day.dropped.size else day.q1
    if rows.size or day.q2.size:
        total = queue2_weight(day, due_all, t)
        if rows.size:
            total = total + lane_sum(lanes_of[rows], weights(day, rows, t), day.n_lanes, day.exact)
        cost[:, COMPONENT["delay"]] = mul_div(total, rates.delay, DELAY_DEN, half_up=True)
    else:
        cost[:, COMPONENT["delay"]] = 0
    if rates.overdraft:
        overdraft = np.maximum(0, -day.balance)
        cost[:, COMPONENT["overdraft"]] = mul_div(overdraft, rates.overdraft, OVERDRAFT_DEN, half_up=True)
    day.costs[:, t // day.setup.ticks_per_day] += cost.reshape(day.n_samples, day.n_agents, len(COMPONENTS))


def end_of_day(day: BatchState, t: int) -> None:
    setup = day.setup
    rows = unsettled(day)
    if not setup.eod_all_unsettled:
        rows = rows[day.deadline[rows] < t]
    if day.has_runs:  # each part left pays
        penalty = part_penalties(day, rows, day.parts_left[rows], setup.rates.eod_penalty)
    else:
        penalty = setup.rates.eod_penalty.of(day.remaining[rows])
    per_lane = lane_sum(day.layout.sender_lane[rows], penalty, day.n_lanes, day.exact)
    day.costs[:, t // setup.ticks_per_day, :, COMPONENT["eod_penalty"]] += per_lane.reshape(day.n_samples, day.n_agents)
    for reg in day.registers.values():
        reg[:] = 0.0
    if day.has_limits:  # limits are per day
        day.outflow_to[:] = 0
        day.outflow_total[:] = 0
    day.balance -= day.allocated
    day.set_allocated(np.zeros_like(day.allocated))


def cost_table(day: BatchState) -> CostTable:
    setup = day.setup
    days, n_agents, n_samples = setup.days_simulated, day.n_agents, day.n_samples
    size = n_samples * days * n_agents
    n = day.n_payments  # counts per scenario payment: a split one when all its parts settled
    done_all, settle_tick = settled_roots(day, n)
    within = day.arrival[:n] < setup.horizon  # arrived during the simulated ticks
    rows = slice(0, n) if within.all() else np.flatnonzero(within)
    arrival_day = day.arrival[rows] // setup.ticks_per_day
    cell = (day.layout.sample[rows] * days + arrival_day) * n_agents + day.sender[rows]
    done = done_all[rows]
    amount, delay = day.amount[rows], settle_tick[rows] - day.arrival[rows]

    def total(at: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        if values is None:
            out = np.bincount(at, minlength=size).astype(np.int64)
        else:
            out = lane_sum(at, values, size, day.exact)
        return out.reshape(n_samples, days, n_agents)

    return CostTable(
        setup.agent_ids,
        day.costs,
        arrived_count=total(cell),
        settled_count=total(cell[done]),
        arrived_value=total(cell, amount),
        settled_value=total(cell[done], amount[done]),
        delay_ticks=total(cell[done], delay[done]),
        final_balance=day.balance.reshape(n_samples, n_agents).copy(),
        decisions=day.decisions,
        settle_tick=settle_tick,
        payment_counts=day.payment_counts,
    )
