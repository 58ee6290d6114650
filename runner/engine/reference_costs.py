"""The reference engine's cost accrual and end of day (docs/engine.md, "Costs")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from runner.engine.rates import BPS_DEN, COMPONENT, DELAY_DEN, OVERDRAFT_DEN, mul_div_int
from runner.engine.results import CostTable
from runner.engine.rules import Status

if TYPE_CHECKING:
    from runner.engine.reference import _ReferenceDay


def accrue_costs(sim: _ReferenceDay, t: int) -> None:
    """Per-tick costs of every bank (deadline penalties when a payment goes overdue)."""
    setup, rates = sim.setup, sim.setup.rates
    day = t // setup.ticks_per_day
    cost = sim.costs[day]
    weight = [0] * setup.n_agents
    for tx in sim.open:  # arrived, and unsettled or settled during this tick
        if not tx.status.unsettled and not (tx.status == Status.SETTLED and tx.settle_tick > tx.deadline):
            continue
        if tx.deadline == t - 1:  # going overdue: once, at the first tick past the deadline
            cost[tx.sender, COMPONENT["deadline_penalty"]] += rates.deadline_penalty.of_int(tx.amount)
            sim.emit(
                t,
                "Overdue",
                tx=tx.id,
                sender=setup.agent_ids[tx.sender],
                penalty=rates.deadline_penalty.of_int(tx.amount),
            )
        if tx.status.unsettled:
            weight[tx.sender] += tx.remaining * rates.delay_weight_int(tx.priority, t > tx.deadline)
    for a in range(setup.n_agents):
        add = {
            "liquidity_opportunity": mul_div_int(sim.allocated[a], rates.liquidity, BPS_DEN, half_up=True),
            "overdraft": mul_div_int(max(0, -sim.balance[a]), rates.overdraft, OVERDRAFT_DEN, half_up=True),
            "delay": mul_div_int(weight[a], rates.delay, DELAY_DEN, half_up=True),
            "collateral": mul_div_int(sim.posted[a], rates.collateral, BPS_DEN, half_up=True),
        }
        for name, value in add.items():
            cost[a, COMPONENT[name]] += value
        if sim.trace and any(add.values()):
            sim.emit(t, "CostAccrual", agent=setup.agent_ids[a], **add)
    sim.open = [tx for tx in sim.open if tx.status.unsettled]


def close_day(sim: _ReferenceDay, t: int) -> None:
    """End of day: end-of-day penalties, registers and limits reset, pooled liquidity returned."""
    setup = sim.setup
    day = t // setup.ticks_per_day
    for tx in sim.open:
        if tx.status.unsettled and (setup.eod_all_unsettled or tx.deadline < t):
            penalty = setup.rates.eod_penalty.of_int(tx.remaining)
            sim.costs[day, tx.sender, COMPONENT["eod_penalty"]] += penalty
            sim.emit(t, "EodPenalty", tx=tx.id, sender=setup.agent_ids[tx.sender], penalty=penalty)
    for a in range(setup.n_agents):
        sim.registers[a] = {}
        sim.balance[a] -= sim.allocated[a]  # pooled liquidity goes back at end of day
        sim.allocated[a] = 0
    sim.limits.reset()
    sim.emit(t, "EndOfDay", day=day, unsettled=len(sim.open))


def cost_table(sim: _ReferenceDay) -> CostTable:
    """The run's one-sample table; counts per scenario payment (a split one is settled when
    its last child is)."""
    setup = sim.setup
    days, n = setup.days_simulated, setup.n_agents
    counts = {
        k: np.zeros((1, days, n), dtype=np.int64)
        for k in ("arrived_count", "settled_count", "arrived_value", "settled_value", "delay_ticks")
    }
    originals = sim.txs[: sim.n_scheduled]  # counts per scenario payment, not per child
    for tx in originals:
        if tx.arrival >= setup.horizon:
            continue
        d = tx.arrival // setup.ticks_per_day
        counts["arrived_count"][0, d, tx.sender] += 1
        counts["arrived_value"][0, d, tx.sender] += tx.amount
        if tx.settle_tick >= 0:
            counts["settled_count"][0, d, tx.sender] += 1
            counts["settled_value"][0, d, tx.sender] += tx.amount
            counts["delay_ticks"][0, d, tx.sender] += tx.settle_tick - tx.arrival
    final = np.array([sim.balance], dtype=np.int64)
    settle = np.array([tx.settle_tick for tx in originals], dtype=np.int64)
    return CostTable(
        setup.agent_ids,
        sim.costs[None].copy(),
        final_balance=final,
        decisions=sim.decisions,
        settle_tick=settle,
        payment_counts=np.array([settle.size], dtype=np.int64),
        **counts,
    )
