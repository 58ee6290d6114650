"""The reference engine's cost accrual and end of day (docs/engine.md, "Costs")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from runner.engine.rates import BPS_DEN, COMPONENT, DELAY_DEN, OVERDRAFT_DEN, mul_div_int
from runner.engine.results import CostTable
from runner.engine.rules import Status

if TYPE_CHECKING:
    from runner.engine.reference import _Day


def accrue_costs(sim: _Day, t: int) -> None:
    """Per-tick costs of every bank (deadline penalties when a payment goes overdue)."""
    s, r = sim.s, sim.s.rates
    day = t // s.ticks_per_day
    cost = sim.costs[day]
    weight = [0] * s.n_agents
    for tx in sim.open:  # arrived, and unsettled or settled during this tick
        if not tx.status.unsettled and not (tx.status == Status.SETTLED and tx.settle_tick > tx.deadline):
            continue
        if tx.deadline == t - 1:  # going overdue: once, at the first tick past the deadline
            cost[tx.sender, COMPONENT["deadline_penalty"]] += r.deadline_penalty.of_int(tx.amount)
            sim.emit(t, "Overdue", tx=tx.id, sender=s.agent_ids[tx.sender],
                      penalty=r.deadline_penalty.of_int(tx.amount))
        if tx.status.unsettled:
            weight[tx.sender] += tx.remaining * r.delay_weight_int(tx.priority, t > tx.deadline)
    for a in range(s.n_agents):
        add = {
            "liquidity_opportunity": mul_div_int(sim.allocated[a], r.liquidity, BPS_DEN, half_up=True),
            "overdraft": mul_div_int(max(0, -sim.balance[a]), r.overdraft, OVERDRAFT_DEN, half_up=True),
            "delay": mul_div_int(weight[a], r.delay, DELAY_DEN, half_up=True),
            "collateral": mul_div_int(sim.posted[a], r.collateral, BPS_DEN, half_up=True),
        }
        for name, value in add.items():
            cost[a, COMPONENT[name]] += value
        if sim.trace and any(add.values()):
            sim.emit(t, "CostAccrual", agent=s.agent_ids[a], **add)
    sim.open = [tx for tx in sim.open if tx.status.unsettled]


def close_day(sim: _Day, t: int) -> None:
    """End of day: end-of-day penalties, registers and limits reset, pooled liquidity returned."""
    s = sim.s
    day = t // s.ticks_per_day
    for tx in sim.open:
        if tx.status.unsettled and (s.eod_all_unsettled or tx.deadline < t):
            penalty = s.rates.eod_penalty.of_int(tx.remaining)
            sim.costs[day, tx.sender, COMPONENT["eod_penalty"]] += penalty
            sim.emit(t, "EodPenalty", tx=tx.id, sender=s.agent_ids[tx.sender], penalty=penalty)
    for a in range(s.n_agents):
        sim.registers[a] = {}
        sim.balance[a] -= sim.allocated[a]  # pooled liquidity goes back at end of day
        sim.allocated[a] = 0
    sim.limits.reset()
    sim.emit(t, "EndOfDay", day=day,
              unsettled=len(sim.open))


def cost_table(sim: _Day) -> CostTable:
    """The run's one-sample table; counts per scenario payment (a split one is settled when
    its last child is)."""
    s = sim.s
    days, n = s.days_simulated, s.n_agents
    counts = {k: np.zeros((1, days, n), dtype=np.int64) for k in
              ("arrived_count", "settled_count", "arrived_value", "settled_value", "delay_ticks")}
    originals = sim.txs[:sim.n_scheduled]  # counts per scenario payment, not per child
    for tx in originals:
        if tx.arrival >= s.horizon:
            continue
        d = tx.arrival // s.ticks_per_day
        counts["arrived_count"][0, d, tx.sender] += 1
        counts["arrived_value"][0, d, tx.sender] += tx.amount
        if tx.settle_tick >= 0:
            counts["settled_count"][0, d, tx.sender] += 1
            counts["settled_value"][0, d, tx.sender] += tx.amount
            counts["delay_ticks"][0, d, tx.sender] += tx.settle_tick - tx.arrival
    final = np.array([sim.balance], dtype=np.int64)
    settle = np.array([tx.settle_tick for tx in originals], dtype=np.int64)
    return CostTable(s.agent_ids, sim.costs[None].copy(), final_balance=final,
                     decisions=sim.decisions, settle_tick=settle,
                     payment_counts=np.array([settle.size], dtype=np.int64), **counts)
