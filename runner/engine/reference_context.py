"""What a policy tree reads in the reference engine: its base quantities.

`runner.policy.fields` defines every context field once, for both engines, as a formula over
a few *base quantities*; here the reference engine supplies them from its state, as plain
floats: a bank's (balance, credit, collateral, its queues, today's flows, cost rates, state
registers), read by every tree, and a payment's on top of them, read by the payment tree
(docs/engine.md, "Context fields", lists where the fields differ from SimCash's).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from runner.engine.reference_split import UNSUBMITTED_PART

if TYPE_CHECKING:
    from runner.engine.reference import _ReferenceDay
    from runner.engine.reference_payment import Tx


def bank_base(day: _ReferenceDay, a: int, t: int) -> dict[str, Any]:
    """Bank ``a``'s base quantities at tick ``t`` (what the bank and collateral trees read)."""
    setup = day.setup
    rates = setup.rates.raw
    mine_q2 = [tx for tx in day.q2 if tx.sender == a]
    return {
        "balance": float(day.balance[a]),
        "unsecured_cap": float(day.cap[a]),
        "posted_collateral": float(day.posted[a]),
        "haircut": float(setup.haircut[a]),
        "max_collateral_capacity": float(day.max_collateral(a)),
        "q1_value": float(sum(tx.remaining for tx in day.q1[a])),
        "q1_count": float(len(day.q1[a])),
        "q2_count_agent": float(len(mine_q2)),
        "q2_size": float(len(day.q2)),
        "q2_value": float(sum(tx.remaining for tx in day.q2)),
        "q2_nearest_deadline": float(min((tx.deadline for tx in mine_q2), default=math.inf)),
        "arrived_value_today": float(day.arrived_today[a]),
        "settled_value_today": float(day.settled_today[a]),
        "tick": float(t),
        "tpd": float(setup.ticks_per_day),
        "n_agents": float(setup.n_agents),
        "eod_rush_threshold": setup.eod_rush_threshold,
        "delay_rate": rates.delay_cost_per_tick_per_cent,
        "overdraft_bps": rates.overdraft_bps_per_tick,
        "collateral_bps": rates.collateral_cost_per_tick_bps,
        "overdue_multiplier": rates.overdue_delay_multiplier,
        "split_friction": float(rates.split_friction_cost),
        "deadline_penalty_here": float(setup.rates.deadline_penalty.of_int(0)),
        "eod_penalty_here": float(setup.rates.eod_penalty.of_int(0)),
        "registers": lambda name: day.registers[a].get(name, 0.0),
    }


def payment_base(day: _ReferenceDay, bank: dict[str, Any], tx: Tx, *, in_q2: bool) -> dict[str, Any]:
    """What the payment tree reads for ``tx``: its sender's `bank_base` plus the payment's own
    quantities (``in_q2``: decided in the Queue-2 pass)."""
    rates = day.setup.rates
    return {
        **bank,
        "amount": float(tx.amount),
        "remaining": float(tx.remaining),
        "arrival_tick": float(tx.arrival),
        "deadline_tick": float(tx.deadline),
        "priority": float(tx.priority),
        "is_split": float(tx.parent is not None),
        # submitted and waiting: a part a StaggerSplit released at once reads 0 (SimCash)
        "in_queue2": float(in_q2 and tx.submitted != UNSUBMITTED_PART),
        "deadline_penalty_here": float(rates.deadline_penalty.of_int(tx.amount)),
        "eod_penalty_here": float(rates.eod_penalty.of_int(tx.remaining)),
    }
