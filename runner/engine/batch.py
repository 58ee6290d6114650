"""The batch engine: many samples of one setup at once, as int64 numpy arrays.

It follows `runner.engine.reference` rule for rule (the property tests hold it to the cent);
the difference is layout. State lives in flat arrays — the payments of all samples end to
end ("rows", each sample's in queue-entry order) and bank accounts ``[sample × agent]``
("lanes") — and each tick step is an array expression:

* Queue 1, Queue 2 and the dropped payments are index arrays, updated as payments move, so
  a tick touches only the payments present, never the whole day;
* policies decide every Queue-1 payment of the tick at once (`runner.engine.batch_policy`);
* settlement "in order, settle if affordable" runs per lane (`runner.engine.batch_settlement`).

All work per tick is linear in the payments present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from runner.engine.batch_policy import Policies, policy_groups
from runner.engine.batch_settlement import (
    DROPPED,
    FLOAT_EXACT,
    FUTURE,
    Q1,
    SETTLED,
    lane_sum,
    rank_steps,
)
from runner.engine.rates import BPS_DEN, COMPONENTS, DELAY_DEN, OVERDRAFT_DEN, C, mul_div
from runner.engine.results import CostTable
from runner.engine.schedule import KIND_DIRECT_TRANSFER, Schedule
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup

__all__ = ["evaluate_batch"]

_EMPTY = np.zeros(0, dtype=np.int64)


def evaluate_batch(setup: EngineSetup, schedules: Sequence[Schedule]) -> CostTable:
    """Simulate every schedule under ``setup``; costs identical to the reference engine's.

    ``schedules`` may be a list of `Schedule` or a `ScheduleBatch` (no conversion needed).

    Example:
        >>> schedules = [generate_schedule(cfg, s) for s in range(100)]  # doctest: +SKIP
        >>> table = evaluate_batch(setup, schedules)  # doctest: +SKIP
        >>> table.totals().shape
        (100, 2)
    """
    day = _BatchDay(setup, ScheduleBatch.of(schedules))
    for t in range(setup.horizon):
        day.tick(t)
    return day.table()


def _group_by(ticks: np.ndarray, horizon: int) -> list[np.ndarray]:
    """Indices grouped by tick value, each group in index order (values ≥ horizon dropped)."""
    key = np.minimum(ticks, horizon)
    if horizon <= np.iinfo(np.int16).max:
        key = key.astype(np.int16)  # same order; numpy's stable sort is a radix sort on 16 bits
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(horizon + 1))
    return [order[bounds[t]:bounds[t + 1]] for t in range(horizon)]


@dataclass(frozen=True, eq=False)
class _Layout:
    """What the engine derives from a batch's arrays alone — no policy, no account — for a
    number of agents and a horizon. Computed once per batch and reused: the two policies of a
    paired comparison, and the fixed reference set at every iteration, share their batch."""

    samp: np.ndarray  # per payment row: sample
    sl: np.ndarray  # sender lane (sample × A + sender)
    rl: np.ndarray  # receiver lane
    sl_key: np.ndarray  # sender lanes as a small integer type (fast stable sorts)
    by_arrival: list[np.ndarray]  # rows arriving at each tick
    by_deadline: list[np.ndarray]  # rows going overdue at each tick (deadline + 1)
    ev_samp: np.ndarray  # per balance event: sample
    ev_from: np.ndarray  # paying lane
    ev_to: np.ndarray  # receiving lane
    ev_amount: np.ndarray
    ev_direct: np.ndarray  # a direct transfer (else a scheduled settlement)
    ev_by_tick: list[np.ndarray]
    # Per tick, each event as two flow entries over three lane blocks: [outflows | direct
    # inflows | scheduled inflows]; a tick's flows are then one sum (`_BatchDay.scenario_events`).
    flow_keys: list[np.ndarray]
    flow_amounts: list[np.ndarray]
    ev_exact: bool  # per-lane sums of event amounts are exact in float64

    @classmethod
    def build(cls, batch: ScheduleBatch, n_agents: int, horizon: int) -> _Layout:
        c, n_samples = batch.columns, len(batch)
        samp = np.repeat(np.arange(n_samples, dtype=np.int64), batch.payment_sizes)
        sl = samp * n_agents + c["sender"]
        # numpy's stable sort is a radix sort on 16 bits
        sl_key = sl.astype(np.int16) if n_samples * n_agents < 2**15 else sl
        ev_samp = np.repeat(np.arange(n_samples, dtype=np.int64), batch.event_sizes)
        ev_from, ev_to = ev_samp * n_agents + c["event_from"], ev_samp * n_agents + c["event_to"]
        amount = c["event_amount"]
        direct = c["event_kind"] == KIND_DIRECT_TRANSFER
        n_lanes = n_samples * n_agents
        ev_by_tick = _group_by(c["event_tick"], horizon)
        flow_key = np.concatenate((ev_from, ev_to + np.where(direct, n_lanes, 2 * n_lanes)))
        flow_amount = np.concatenate((amount, amount))
        both = [np.concatenate((e, e + amount.size)) if e.size else e for e in ev_by_tick]
        return cls(
            samp=samp, sl=sl, rl=samp * n_agents + c["receiver"], sl_key=sl_key,
            by_arrival=_group_by(c["arrival"], horizon), by_deadline=_group_by(c["deadline"] + 1, horizon),
            ev_samp=ev_samp, ev_from=ev_from, ev_to=ev_to, ev_amount=amount, ev_direct=direct,
            ev_by_tick=ev_by_tick, flow_keys=[flow_key[b] for b in both],
            flow_amounts=[flow_amount[b] for b in both],
            ev_exact=amount.size == 0 or int(np.abs(amount).max()) * 2 * amount.size < FLOAT_EXACT,
        )


_LAYOUTS: WeakKeyDictionary[ScheduleBatch, dict[tuple[int, int], _Layout]] = WeakKeyDictionary()


def _layout(batch: ScheduleBatch, n_agents: int, horizon: int) -> _Layout:
    """The batch's `_Layout`, built on first use and kept as long as the batch lives."""
    per_batch = _LAYOUTS.setdefault(batch, {})
    key = (n_agents, horizon)
    if key not in per_batch:
        per_batch[key] = _Layout.build(batch, n_agents, horizon)
    return per_batch[key]


class _BatchDay(Policies):
    def __init__(self, setup: EngineSetup, batch: ScheduleBatch) -> None:
        self.s = setup
        self.S, self.A = len(batch), setup.n_agents
        self.deferred = setup.deferred_crediting
        self.decisions = 0
        self.registers = {}
        self.groups = policy_groups(setup)
        self.group_of = np.zeros(self.A, dtype=np.int64)
        for g, group in enumerate(self.groups):
            self.group_of[group.agents] = g
        self.has_bank_tree = any(g.program.has_tree("bank_tree") for g in self.groups)
        self.constant_trees = all(g.constant for g in self.groups)
        if self.constant_trees:  # each agent's payment tree is one action: per-agent tables
            self.agent_release = np.zeros(self.A, dtype=bool)
            self.agent_drop = np.zeros(self.A, dtype=bool)
            self.agent_flag = np.full(self.A, -1, dtype=np.int64)
            for group in self.groups:
                self.agent_release[group.agents] = group.release[0]
                self.agent_drop[group.agents] = group.drop[0]
                self.agent_flag[group.agents] = group.flag[0]
        self.all_release = (self.constant_trees and bool(self.agent_release.all())
                            and not self.has_bank_tree)
        self._load_payments(batch)
        self._load_events(batch)
        self._open_accounts()
        self._prepare_costs()

    def _load_payments(self, batch: ScheduleBatch) -> None:
        lay = _layout(batch, self.A, self.s.horizon)
        self.payment_counts = batch.payment_sizes
        c = batch.columns
        # the engine writes priorities and never the other columns: those are shared
        self.snd, self.rcv, self.amt, self.arr, self.dl = (
            c["sender"], c["receiver"], c["amount"], c["arrival"], c["deadline"])
        self.pri = c["priority"].copy()
        self.samp, self.sl, self.rl, self.sl_key = lay.samp, lay.sl, lay.rl, lay.sl_key
        self.by_arrival, self.by_deadline = lay.by_arrival, lay.by_deadline
        n = self.amt.size
        self.status = np.full(n, FUTURE, dtype=np.int8)
        self.rem = self.amt.copy()
        self.stick = np.full(n, -1, dtype=np.int64)
        self.q1, self.q2, self.dropped = _EMPTY, _EMPTY, _EMPTY

    def _load_events(self, batch: ScheduleBatch) -> None:
        """Scheduled balance events, flat like the payments, and their flows per tick."""
        lay = _layout(batch, self.A, self.s.horizon)
        self.ev_samp, self.ev_from, self.ev_to = lay.ev_samp, lay.ev_from, lay.ev_to
        self.ev_amount, self.ev_direct, self.ev_by_tick = lay.ev_amount, lay.ev_direct, lay.ev_by_tick
        self.flow_keys, self.flow_amounts, self.ev_exact = lay.flow_keys, lay.flow_amounts, lay.ev_exact

    def _open_accounts(self) -> None:
        s, n_lanes = self.s, self.S * self.A

        # every per-agent account figure repeated over the samples, in one tile
        whole = np.tile(np.stack([s.opening, s.unsecured_cap, s.pool, s.allocation,
                                  s.posted_collateral, s.max_collateral, np.arange(self.A)]), self.S)
        self.bal, self.cap, self.pool, self.alloc_amount, self.posted, self.max_collateral, \
            self.lane_agent = (np.array(row) for row in whole)
        self.haircut = np.tile(s.haircut, self.S)
        capacity = np.floor(self.posted * np.maximum(0.0, 1.0 - self.haircut)).astype(np.int64)
        self.limit = capacity + self.cap
        self.incoming = np.zeros(n_lanes, dtype=np.int64)
        # release budgets ([lane × counterparty] tables) exist only under a bank tree
        n_budgets = n_lanes if self.has_bank_tree else 0
        self.budget_left = np.full(n_budgets, -1, dtype=np.int64)
        self.budget_focus = np.ones((n_budgets, self.A), dtype=bool)
        self.budget_per = np.full(n_budgets, -1, dtype=np.int64)
        self.budget_used = np.zeros((n_budgets, self.A), dtype=np.int64)

    def _prepare_costs(self) -> None:
        s, r = self.s, self.s.rates
        self.costs = np.zeros((self.S, s.days_simulated, self.A, len(COMPONENTS)), dtype=np.int64)
        # costs of the tick [lane, component]; liquidity and collateral change only with
        # allocations, so those columns are kept, the others rewritten each tick
        self.tick_costs = np.zeros((self.S * self.A, len(COMPONENTS)), dtype=np.int64)
        collateral = mul_div(self.posted, r.collateral, BPS_DEN, half_up=True)
        self.tick_costs[:, C["collateral"]] = collateral
        self.set_allocated(self.alloc_amount.copy())
        self.bal += self.allocated
        # delay weight (× 1000) by [priority × 2 + overdue]: `ScaledRates.delay_weight` as a
        # table over priorities 0..10 (clipping a priority into 0..10 keeps its band)
        self.delay_lut = r.delay_lut
        # priorities only ever change to values in 0..10: if they start there, no clipping
        n = self.amt.size
        self.pri_in_range = n == 0 or bool(self.pri.min() >= 0 and self.pri.max() <= 10)
        # Every per-lane sum (amounts, delay weights, penalties, delay ticks) is at most
        # n × the largest term; below 2**53 np.bincount's float64 sums are exact.
        top = int(np.abs(self.amt).max()) if n else 0
        largest = np.array([top])
        penalty = max(int(r.deadline_penalty.of(largest)[0]), int(r.eod_penalty.of(largest)[0]))
        terms = (top * int(self.delay_lut.max()), s.horizon, penalty)
        self.exact = max(terms) * n < FLOAT_EXACT

    def set_allocated(self, allocated: np.ndarray) -> None:
        self.allocated = allocated
        self.tick_costs[:, C["liquidity_opportunity"]] = mul_div(
            allocated, self.s.rates.liquidity, BPS_DEN, half_up=True)

    # ------------------------------------------------------------------ the tick
    def tick(self, t: int) -> None:
        s = self.s
        tpd = s.ticks_per_day
        if t % tpd == 0 and t > 0:
            has_pool = self.pool > 0
            self.set_allocated(np.where(has_pool, self.alloc_amount, self.allocated))
            self.bal += np.where(has_pool, self.alloc_amount, 0)
        if self.ev_by_tick[t].size:
            self.scenario_events(t)
        arrivals = self.by_arrival[t]
        self.status[arrivals] = Q1
        # Queue 1 stays in row order; arrivals come after every waiting payment of their
        # sample but interleave with other samples, hence the sort
        self.q1 = np.sort(np.concatenate((self.q1, arrivals))) if self.q1.size else arrivals
        self.lane_cache = {}
        self.current_tick = t
        if self.has_bank_tree:
            self.bank_trees(t)
        released = self.payment_pass(t)
        if released.size or self.q2.size:
            self.settle_released(released, t)
        if s.bilateral_lsm and self.q2.size:
            self.offsetting(t)
        if self.deferred:
            self.bal += self.incoming
            self.incoming[:] = 0
        self.accrue(t)
        if t % tpd == tpd - 1:
            self.end_of_day(t)

    def scenario_events(self, t: int) -> None:
        """This tick's balance events, in file order within each sample.

        Samples where every paying lane covers all its outflows of the tick (transfers and
        scheduled settlements) from its available liquidity at the start: every scheduled
        settlement goes through whatever the order (inflows only add, and available falls by
        at most what is paid), so their events apply as net flows. The others, one event
        per sample at a time.
        """
        idx = self.ev_by_tick[t]
        n_lanes = self.S * self.A
        flows = lane_sum(self.flow_keys[t], self.flow_amounts[t], 3 * n_lanes,
                         self.ev_exact).reshape(3, n_lanes)
        out, direct_in, scheduled_in = flows
        short = out > self.available()
        hard_sample = None
        if short.any():
            hard_sample = np.zeros(self.S, dtype=bool)
            hard_sample[np.flatnonzero(short) // self.A] = True
            flows *= ~np.repeat(hard_sample, self.A)  # only the easy samples' lanes move here
        self.bal -= out
        self.bal += direct_in
        if self.deferred:
            self.incoming += scheduled_in
        else:
            self.bal += scheduled_in
        if hard_sample is None:
            return
        rest = idx[hard_sample[self.ev_samp[idx]]]
        for step in rank_steps(self.ev_samp[rest]):
            e = rest[step]
            frm, to, amount, direct = self.ev_from[e], self.ev_to[e], self.ev_amount[e], self.ev_direct[e]
            self.bal[frm[direct]] -= amount[direct]
            self.bal[to[direct]] += amount[direct]
            sched = ~direct
            ok = amount[sched] <= self.available(frm[sched])
            self.bal[frm[sched][ok]] -= amount[sched][ok]
            self.credit(to[sched][ok], amount[sched][ok])

    # ------------------------------------------------------------------ costs
    def unsettled(self) -> np.ndarray:
        return np.concatenate((self.q1, self.q2, self.dropped))

    def accrue(self, t: int) -> None:
        r = self.s.rates
        n_lanes = self.S * self.A
        cost = self.tick_costs
        cost[:, C["deadline_penalty"]] = 0
        due = self.by_deadline[t]  # deadline t - 1: charged if unsettled, or settled now (late)
        if due.size:
            st = self.status[due]
            unsettled = (st >= Q1) & (st <= DROPPED)
            late = unsettled | ((st == SETTLED) & (self.stick[due] > self.dl[due]))
            due = due[late]
            if due.size:
                penalty = r.deadline_penalty.of(self.amt[due])
                per_lane = lane_sum(self.sl[due], penalty, n_lanes, self.exact)
                cost[:, C["deadline_penalty"]] = per_lane
        cost[:, C["delay"]] = 0
        rows = self.unsettled()
        if rows.size:
            pri = self.pri[rows]
            if not self.pri_in_range:
                pri = np.minimum(np.maximum(pri, 0), 10)
            weight = self.rem[rows] * self.delay_lut[pri * 2 + (t > self.dl[rows])]
            total = lane_sum(self.sl[rows], weight, n_lanes, self.exact)
            cost[:, C["delay"]] = mul_div(total, r.delay, DELAY_DEN, half_up=True)
        if r.overdraft:
            overdraft = np.maximum(0, -self.bal)
            cost[:, C["overdraft"]] = mul_div(overdraft, r.overdraft, OVERDRAFT_DEN, half_up=True)
        self.costs[:, t // self.s.ticks_per_day] += cost.reshape(self.S, self.A, len(COMPONENTS))

    def end_of_day(self, t: int) -> None:
        s = self.s
        rows = self.unsettled()
        if not s.eod_all_unsettled:
            rows = rows[self.dl[rows] < t]
        penalty = s.rates.eod_penalty.of(self.rem[rows])
        per_lane = lane_sum(self.sl[rows], penalty, self.S * self.A, self.exact)
        self.costs[:, t // s.ticks_per_day, :, C["eod_penalty"]] += per_lane.reshape(self.S, self.A)
        for reg in self.registers.values():
            reg[:] = 0.0
        self.bal -= self.allocated
        self.set_allocated(np.zeros_like(self.allocated))

    def table(self) -> CostTable:
        s = self.s
        days = s.days_simulated
        size = self.S * days * self.A
        within = self.arr < s.horizon  # arrived during the simulated ticks
        rows = slice(None) if within.all() else np.flatnonzero(within)
        day = self.arr[rows] // s.ticks_per_day
        cell = (self.samp[rows] * days + day) * self.A + self.snd[rows]
        done = self.status[rows] == SETTLED
        amount, delay = self.amt[rows], self.stick[rows] - self.arr[rows]

        def total(at: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
            if values is None:
                out = np.bincount(at, minlength=size).astype(np.int64)
            else:
                out = lane_sum(at, values, size, self.exact)
            return out.reshape(self.S, days, self.A)

        return CostTable(
            s.agent_ids, self.costs,
            arrived_count=total(cell),
            settled_count=total(cell[done]),
            arrived_value=total(cell, amount),
            settled_value=total(cell[done], amount[done]),
            delay_ticks=total(cell[done], delay[done]),
            final_balance=self.bal.reshape(self.S, self.A).copy(),
            decisions=self.decisions,
            settle_tick=self.stick, payment_counts=self.payment_counts,
        )
