"""The reference engine: one sample, one readable loop — the executable spec.

Every rule of the payment day is written here once, in plain Python, in the order a tick
runs. The batch engine (`runner.engine.batch`) must reproduce these costs to the cent (the
property tests check it on random scenarios and policies). This engine also produces the
event trace used by ``paylab simulate --events`` and by the LLM prompts.

Tick order: start of day (pool allocation) → scenario events → arrivals → bank trees →
priority escalation and Queue-1 ordering → payment trees over Queue 1 (one snapshot per bank)
→ RTGS settlement of released payments in order → one FIFO pass over Queue 2 → LSM
(bilateral offsetting and multilateral cycles) → deferred credits → cost accrual → end of day.
Collateral trees run after the arrivals and after the LSM, timers after the bank trees
(`runner.engine.reference_collateral`). Every settlement path goes through `_ReferenceDay.can_settle`
(liquidity and limits) or, for the LSM's groups, `settle_group` (net positions and limits).
What the trees read is `runner.engine.reference_context`; the bank tree and the release budget
it sets, `runner.engine.reference_bank_tree`.

Decisions where SimCash has a quirk (documented in docs/engine.md):
* a payment not settled by the end of its deadline tick pays the deadline penalty once, at
  tick deadline + 1 — even if it settles during that tick (SimCash lets those escape);
* ``Drop`` removes a payment from the queues but not from the books: it keeps accruing delay
  cost and is charged deadline and end-of-day penalties like any unsettled payment;
* with deferred crediting, *every* incoming amount (RTGS, Queue 2, offsetting, scheduled
  settlements) becomes usable from the next tick.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from runner.engine.limits import OutflowLimits
from runner.engine.rates import COMPONENTS
from runner.engine.reference_bank_tree import bank_tree, may_release
from runner.engine.reference_collateral import collateral_tree, run_timers
from runner.engine.reference_context import bank_base, payment_base
from runner.engine.reference_costs import accrue_costs, close_day, cost_table
from runner.engine.reference_lsm import run_lsm
from runner.engine.reference_payment import Budget, Tx
from runner.engine.reference_queue2 import queue2_policy_pass
from runner.engine.reference_split import UNSUBMITTED_PART, queue2_rank, settle_ancestors, split_payment
from runner.engine.results import CostTable
from runner.engine.rules import (
    SPLIT_ACTIONS,
    Status,
    allowed_overdraft,
    available_liquidity,
    collateral_capacity,
    rtgs_priority,
    whole_arg,
)
from runner.engine.schedule import KIND_COLLATERAL_ADJUSTMENT, KIND_DIRECT_TRANSFER, Schedule
from runner.engine.setup import EngineSetup


class ReferenceEngine:
    """Simulate one sample of a scenario with plain Python objects.

    Example:
        >>> result, events = ReferenceEngine(setup).run(schedule, trace=True)  # doctest: +SKIP
    """

    def __init__(self, setup: EngineSetup) -> None:
        self.setup = setup

    def run(self, schedule: Schedule, trace: bool = False) -> tuple[CostTable, list[dict[str, Any]]]:
        """Simulate ``schedule``; returns its one-sample `CostTable` and, if asked, the events."""
        return _ReferenceDay(self.setup, schedule, trace).run()


class _ReferenceDay:
    def __init__(self, setup: EngineSetup, schedule: Schedule, trace: bool) -> None:
        self.setup = setup
        self.trace = trace
        self.events: list[dict[str, Any]] = []
        n = setup.n_agents
        self.balance = [int(x) for x in setup.opening]
        self.cap = [int(x) for x in setup.unsecured_cap]
        self.posted = [int(x) for x in setup.posted_collateral]
        self.timers: list[tuple[int, int, int]] = []  # (due tick, bank, amount) to withdraw
        self.limits = OutflowLimits(setup.bilateral_limit, setup.multilateral_limit, n)
        self.cycles_left = 0  # cycles the LSM may still settle this tick
        self.allocated = [0] * n
        self.incoming = [0] * n  # deferred credits of this tick
        self.registers: list[dict[str, float]] = [{} for _ in range(n)]
        self.budget: list[Budget | None] = [None] * n
        self.q1: list[list[Tx]] = [[] for _ in range(n)]
        self.q2: list[Tx] = []
        self.txs = [
            Tx(
                i,
                int(schedule.sender[i]),
                int(schedule.receiver[i]),
                int(schedule.amount[i]),
                int(schedule.arrival[i]),
                int(schedule.deadline[i]),
                int(schedule.priority[i]),
                remaining=int(schedule.amount[i]),
                original_priority=int(schedule.priority[i]),
            )
            for i in range(schedule.n_payments)
        ]
        self.n_scheduled = len(self.txs)  # split children come after
        self.parts_of: dict[int, int] = {}  # scenario payment id → parts created from it
        self.by_tick: dict[int, list[Tx]] = {}  # arrivals per tick
        for tx in self.txs:
            self.by_tick.setdefault(tx.arrival, []).append(tx)
        # arrived and not settled before this tick (what accrues costs), in arrival order
        self.open: list[Tx] = []
        self.arrived_today = [0] * n  # value of each bank's payments that arrived today
        self.settled_today = [0] * n  # … of those, settled
        self.sched_events = [
            (
                int(schedule.event_tick[k]),
                int(schedule.event_kind[k]),
                int(schedule.event_from[k]),
                int(schedule.event_to[k]),
                int(schedule.event_amount[k]),
            )
            for k in range(schedule.n_events)
        ]
        days = setup.days_simulated
        self.costs = np.zeros((days, n, len(COMPONENTS)), dtype=np.int64)
        self.decisions = 0
        for a in range(n):  # day 0 allocation from the pool
            self._allocate(a)

    # ------------------------------------------------------------------ helpers
    def emit(self, tick: int, kind: str, **data: Any) -> None:
        if self.trace:
            self.events.append({"tick": tick, "type": kind, **data})

    def overdraft_limit(self, a: int) -> int:
        """How far ``a``'s balance may go below zero (unsecured cap + collateral capacity)."""
        capacity: int = collateral_capacity(self.posted[a], float(self.setup.haircut[a]))
        limit: int = allowed_overdraft(self.cap[a], capacity)
        return limit

    def max_collateral(self, a: int) -> int:
        """What bank ``a`` may have posted: its ``max_collateral_capacity``, else 10 × its
        current unsecured cap."""
        follows = self.setup.capacity_follows_cap
        if follows is not None and follows[a]:
            return 10 * self.cap[a]
        return int(self.setup.max_collateral[a])

    def available(self, a: int) -> int:
        out: int = available_liquidity(self.balance[a], self.overdraft_limit(a))
        return out

    def _blocked_by(self, tx: Tx) -> str:
        """Why ``tx`` cannot settle now: "liquidity", "bilateral_limit" or "multilateral_limit"."""
        if tx.remaining > self.available(tx.sender):
            return "liquidity"
        return self.limits.blocked_by(tx.sender, tx.receiver, tx.remaining) or "liquidity"

    def can_settle(self, tx: Tx) -> bool:
        """The one gross-settlement test: affordable and within the sender's limits."""
        return tx.remaining <= self.available(tx.sender) and self.limits.allows(tx.sender, tx.receiver, tx.remaining)

    def credit(self, a: int, amount: int) -> None:
        if self.setup.deferred_crediting:
            self.incoming[a] += amount
        else:
            self.balance[a] += amount

    def settle(self, tx: Tx, t: int, path: str) -> None:
        self.balance[tx.sender] -= tx.remaining
        self.credit(tx.receiver, tx.remaining)
        self._mark_settled(tx, t, path)

    def _mark_settled(self, tx: Tx, t: int, path: str) -> None:
        self.limits.record(tx.sender, tx.receiver, tx.remaining)
        if tx.arrival // self.setup.ticks_per_day == t // self.setup.ticks_per_day:
            self.settled_today[tx.sender] += tx.amount
        self.emit(
            t,
            "Settlement",
            tx=tx.id,
            sender=self.setup.agent_ids[tx.sender],
            receiver=self.setup.agent_ids[tx.receiver],
            amount=tx.remaining,
            path=path,
        )
        tx.remaining = 0
        tx.status = Status.SETTLED
        tx.settle_tick = t
        settle_ancestors(tx, t)

    def _allocate(self, a: int) -> None:
        amount = int(self.setup.allocation[a])
        self.allocated[a] = amount
        self.balance[a] += amount

    # ------------------------------------------------------------------ the day
    def run(self) -> tuple[CostTable, list[dict[str, Any]]]:
        for t in range(self.setup.horizon):
            self.tick(t)
        return self._table(), self.events

    def tick(self, t: int) -> None:
        tpd = self.setup.ticks_per_day
        if t % tpd == 0 and t > 0:
            for a in range(self.setup.n_agents):
                if self.setup.pool[a] > 0:
                    self._allocate(a)
        self.scenario_events(t)
        self.arrivals(t)
        for a in range(self.setup.n_agents):
            collateral_tree(self, a, t, "strategic_collateral_tree")
        for a in range(self.setup.n_agents):
            bank_tree(self, a, t)
        run_timers(self, t)
        self.escalate(t)
        pending = self.payment_pass(t)
        self.queue2_policy_pass(t)
        for tx in pending:  # RTGS: settle in order if affordable, else queue centrally
            if tx.submitted != UNSUBMITTED_PART:
                tx.submitted = t
            if self.can_settle(tx):
                self.settle(tx, t, "rtgs")
            else:
                tx.status = Status.Q2
                self.q2.append(tx)
                self.emit(
                    t,
                    "QueuedRtgs",
                    tx=tx.id,
                    sender=self.setup.agent_ids[tx.sender],
                    amount=tx.remaining,
                    reason=self._blocked_by(tx),
                )
        self.queue2_pass(t)
        self.lsm(t)
        for a in range(self.setup.n_agents):
            collateral_tree(self, a, t, "end_of_tick_collateral_tree")
        for a in range(self.setup.n_agents):
            self.balance[a] += self.incoming[a]
            self.incoming[a] = 0
        self.accrue(t)
        if t % tpd == tpd - 1:
            self.end_of_day(t)

    def arrivals(self, t: int) -> None:
        if t % self.setup.ticks_per_day == 0:
            self.arrived_today = [0] * self.setup.n_agents
            self.settled_today = [0] * self.setup.n_agents
        for tx in self.by_tick.get(t, ()):
            tx.status = Status.Q1
            self.open.append(tx)
            self.arrived_today[tx.sender] += tx.amount
            self.q1[tx.sender].append(tx)
            self.emit_arrival(t, tx)

    def emit_arrival(self, t: int, tx: Tx, **extra: Any) -> None:
        """The ``Arrival`` event of ``tx`` (a scenario payment, or a split part: ``parent``)."""
        self.emit(
            t,
            "Arrival",
            tx=tx.id,
            sender=self.setup.agent_ids[tx.sender],
            receiver=self.setup.agent_ids[tx.receiver],
            amount=tx.amount,
            deadline=tx.deadline,
            priority=tx.priority,
            **extra,
        )

    def scenario_events(self, t: int) -> None:
        for tick, kind, frm, to, amount in self.sched_events:
            if tick != t:
                continue
            names = {"sender": self.setup.agent_ids[frm], "receiver": self.setup.agent_ids[to]}
            if kind == KIND_DIRECT_TRANSFER:
                self.balance[frm] -= amount
                self.balance[to] += amount
                self.emit(t, "DirectTransfer", amount=amount, **names)
            elif kind == KIND_COLLATERAL_ADJUSTMENT:  # SimCash: it moves the unsecured cap
                self.cap[frm] += amount
                self.emit(t, "CollateralAdjustment", agent=names["sender"], delta=amount, unsecured_cap=self.cap[frm])
            elif amount <= self.available(frm):
                self.balance[frm] -= amount
                self.credit(to, amount)
                self.emit(t, "Settlement", tx=None, amount=amount, path="scheduled", **names)
            else:
                self.emit(t, "ScheduledSettlementFailed", amount=amount, **names)

    # ------------------------------------------------------------------ policies
    def payment_pass(self, t: int) -> list[Tx]:
        """Decide every Queue-1 payment against one snapshot per bank; return releases in order."""
        pending: list[Tx] = []
        for a in range(self.setup.n_agents):
            queue = self.q1[a]
            if not queue:
                continue
            program = self.setup.programs[a]
            bank = bank_base(self, a, t)
            decisions = [program.decide_one("payment_tree", payment_base(self, bank, tx, in_q2=False)) for tx in queue]
            self.decisions += len(queue)
            keep: list[Tx] = []
            later: list[Tx] = []  # staggered children: the end of Queue 1, decided next tick
            for tx, (node, args) in zip(queue, decisions, strict=True):
                self.emit(
                    t, "PolicyDecision", agent=self.setup.agent_ids[a], tx=tx.id, action=node.action, node=node.node_id
                )
                if node.action in ("Release", "ReleaseWithCredit") and may_release(self, tx, args, t):
                    pending.append(tx)
                elif node.action in SPLIT_ACTIONS:
                    now, rest = split_payment(self, tx, node.action, args, t, program.name)
                    pending += now
                    later += rest
                elif node.action == "Drop":
                    tx.status = Status.DROPPED
                else:  # Hold; WithdrawFromRtgs is a hold here (the payment is not in Queue 2)
                    if node.action == "Reprioritize":
                        tx.priority = whole_arg(
                            float(args["new_priority"]), 0, 10, "new_priority", program.name, floor=False
                        )
                    elif node.action == "ResubmitToRtgs":  # declares its RTGS priority, stays
                        tx.rtgs_priority = rtgs_priority(args)
                    keep.append(tx)
            self.q1[a] = keep + later
        return pending

    def queue2_policy_pass(self, t: int) -> None:
        """The payment tree over Queue 2 (`runner.engine.reference_queue2`)."""
        queue2_policy_pass(self, t)

    # ------------------------------------------------------------------ settlement
    def queue2_pass(self, t: int) -> bool:
        """One FIFO pass over Queue 2 (in declared-RTGS-priority order with ``priority_mode``):
        settle each payment that `can_settle`; the others keep their place."""
        if self.setup.priority_mode:
            self.q2.sort(key=lambda tx: queue2_rank(tx.rtgs_priority, tx.submitted))
        settled_any = False
        still: list[Tx] = []
        for tx in self.q2:
            if self.can_settle(tx):
                self.settle(tx, t, "queue2")
                settled_any = True
            else:
                still.append(tx)
        self.q2 = still
        return settled_any

    def lsm(self, t: int) -> None:
        """The liquidity-saving mechanism over Queue 2 (`runner.engine.reference_lsm`)."""
        run_lsm(self, t)

    def escalate(self, t: int) -> None:
        """Priority escalation, then Queue-1 ordering. An unsettled payment with
        r = max(0, deadline − t) ≤ S ticks left gets priority
        min(10, original + round(max_boost × (1 − r/S))) if that is higher; with
        ``queue1_ordering: priority_deadline`` each Queue 1 is then stably sorted by priority
        (high first), then deadline."""
        start, boost_max = self.setup.escalation_start, self.setup.escalation_max_boost
        for tx in self.open if start > 0 else ():
            if not tx.status.unsettled:
                continue
            left = max(0, tx.deadline - t)
            if left <= start:
                boost = math.floor(boost_max * (1 - left / start) + 0.5)
                tx.priority = max(tx.priority, min(10, tx.original_priority + boost))
        if self.setup.queue1_priority_deadline:  # stable: equal keys keep their queue order
            for queue in self.q1:
                queue.sort(key=lambda tx: (-tx.priority, tx.deadline))

    # ------------------------------------------------------------------ costs
    def accrue(self, t: int) -> None:
        accrue_costs(self, t)

    def end_of_day(self, t: int) -> None:
        close_day(self, t)

    def _table(self) -> CostTable:
        return cost_table(self)
