"""The reference engine: one sample, one readable loop — the executable spec.

Every rule of the payment day is written here once, in plain Python, in the order a tick
runs. The batch engine (`runner.engine.batch`) must reproduce these costs to the cent (the
property tests check it on random scenarios and policies). This engine also produces the
event trace used by ``paylab simulate --events`` and by the LLM prompts.

Tick order: start of day (pool allocation) → scenario events → arrivals → bank trees →
payment trees over Queue 1 (one snapshot per bank) → RTGS settlement of released payments in
order → one FIFO pass over Queue 2 → bilateral offsetting → deferred credits → cost accrual →
end of day.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from runner.engine.rates import (
    BPS_DEN,
    COMPONENTS,
    DELAY_DEN,
    OVERDRAFT_DEN,
    C,
    mul_div_int,
)
from runner.engine.results import CostTable
from runner.engine.schedule import KIND_DIRECT_TRANSFER, Schedule
from runner.engine.setup import EngineSetup
from runner.errors import SimulationError

PRIORITY_FLAGS = {"HIGH": 10, "MEDIUM": 5, "LOW": 1}
UNSETTLED = ("q1", "q2", "dropped")
BUDGET_MAX = 2**62  # release budgets above this are unlimited in effect (and fit in int64)


def whole_arg(value: float, lo: int, hi: int, what: str, policy: str, *, floor: bool) -> int:
    """A numeric action argument as an integer in ``[lo, hi]``: floored (or truncated towards
    zero), then clamped; ±inf clamps to a bound, NaN is a `SimulationError`.

    Both engines apply this rule. A bare ``int(x)`` would not do: fields such as
    ``ticks_to_nearest_queue2_deadline`` are inf while the bank has nothing in Queue 2 (and
    inf − inf is NaN), and a budget ≥ 2**63 must not wrap to a negative int64 ("no budget").
    """
    if math.isnan(value):
        raise SimulationError(f"policy {policy}: {what} is not a number (NaN)")
    if value <= lo:
        return lo
    if value >= hi:
        return hi
    return int(math.floor(value) if floor else math.trunc(value))


@dataclass
class Tx:
    """One payment; money in integer cents."""

    id: int
    sender: int
    receiver: int
    amount: int
    arrival: int
    deadline: int
    priority: int
    remaining: int = 0
    status: str = "future"  # future | q1 | q2 | settled | dropped
    settle_tick: int = -1


@dataclass
class Budget:
    """A bank's release budget for the current tick (``SetReleaseBudget``)."""

    left: int
    focus: tuple[int, ...] | None
    per_cpty: int | None
    used: dict[int, int]


class ReferenceEngine:
    """Simulate one sample of a scenario with plain Python objects.

    Example:
        >>> result, events = ReferenceEngine(setup).run(schedule, trace=True)  # doctest: +SKIP
    """

    def __init__(self, setup: EngineSetup) -> None:
        self.setup = setup

    def run(self, schedule: Schedule, trace: bool = False) -> tuple[CostTable, list[dict[str, Any]]]:
        """Simulate ``schedule``; returns its one-sample `CostTable` and, if asked, the events."""
        return _Day(self.setup, schedule, trace).run()


class _Day:
    def __init__(self, setup: EngineSetup, schedule: Schedule, trace: bool) -> None:
        s = setup
        self.s = s
        self.trace = trace
        self.events: list[dict[str, Any]] = []
        n = s.n_agents
        self.balance = [int(x) for x in s.opening]
        self.cap = [int(x) for x in s.unsecured_cap]
        self.allocated = [0] * n
        self.incoming = [0] * n  # deferred credits of this tick
        self.registers: list[dict[str, float]] = [{} for _ in range(n)]
        self.budget: list[Budget | None] = [None] * n
        self.q1: list[list[Tx]] = [[] for _ in range(n)]
        self.q2: list[Tx] = []
        self.txs = [
            Tx(i, int(schedule.sender[i]), int(schedule.receiver[i]), int(schedule.amount[i]),
               int(schedule.arrival[i]), int(schedule.deadline[i]), int(schedule.priority[i]),
               remaining=int(schedule.amount[i]))
            for i in range(schedule.n_payments)
        ]
        self.sched_events = [
            (int(schedule.event_tick[k]), int(schedule.event_kind[k]), int(schedule.event_from[k]),
             int(schedule.event_to[k]), int(schedule.event_amount[k]))
            for k in range(schedule.n_events)
        ]
        days = s.days_simulated
        self.costs = np.zeros((days, n, len(COMPONENTS)), dtype=np.int64)
        self.decisions = 0
        for a in range(n):  # day 0 allocation from the pool
            self._allocate(a)

    # ------------------------------------------------------------------ helpers
    def emit(self, tick: int, kind: str, **data: Any) -> None:
        if self.trace:
            self.events.append({"tick": tick, "type": kind, **data})

    def available(self, a: int) -> int:
        b = self.balance[a]
        limit = self._collateral_capacity(a) + self.cap[a]
        return max(b, 0) + max(0, limit - max(0, -b))

    def _collateral_capacity(self, a: int) -> int:
        return math.floor(int(self.s.posted_collateral[a]) * max(0.0, 1.0 - float(self.s.haircut[a])))

    def credit(self, a: int, amount: int) -> None:
        if self.s.deferred_crediting:
            self.incoming[a] += amount
        else:
            self.balance[a] += amount

    def settle(self, tx: Tx, t: int, path: str) -> None:
        self.balance[tx.sender] -= tx.remaining
        self.credit(tx.receiver, tx.remaining)
        self.emit(t, "Settlement", tx=tx.id, sender=self.s.agent_ids[tx.sender],
                  receiver=self.s.agent_ids[tx.receiver], amount=tx.remaining, path=path)
        tx.remaining = 0
        tx.status = "settled"
        tx.settle_tick = t

    def _allocate(self, a: int) -> None:
        amount = int(self.s.allocation[a])
        self.allocated[a] = amount
        self.balance[a] += amount

    # ------------------------------------------------------------------ the day
    def run(self) -> tuple[CostTable, list[dict[str, Any]]]:
        for t in range(self.s.horizon):
            self.tick(t)
        return self._table(), self.events

    def tick(self, t: int) -> None:
        tpd = self.s.ticks_per_day
        if t % tpd == 0 and t > 0:
            for a in range(self.s.n_agents):
                if self.s.pool[a] > 0:
                    self._allocate(a)
        self.scenario_events(t)
        for tx in self.txs:
            if tx.arrival == t:
                tx.status = "q1"
                self.q1[tx.sender].append(tx)
                self.emit(t, "Arrival", tx=tx.id, sender=self.s.agent_ids[tx.sender],
                          receiver=self.s.agent_ids[tx.receiver], amount=tx.amount,
                          deadline=tx.deadline, priority=tx.priority)
        for a in range(self.s.n_agents):
            self.bank_tree(a, t)
        pending = self.payment_pass(t)
        for tx in pending:  # RTGS: settle in order if affordable, else queue centrally
            if tx.remaining <= self.available(tx.sender):
                self.settle(tx, t, "rtgs")
            else:
                tx.status = "q2"
                self.q2.append(tx)
                self.emit(t, "QueuedRtgs", tx=tx.id, sender=self.s.agent_ids[tx.sender],
                          amount=tx.remaining)
        self.queue2_pass(t)
        if self.s.bilateral_lsm:
            self.offsetting(t)
        for a in range(self.s.n_agents):
            self.balance[a] += self.incoming[a]
            self.incoming[a] = 0
        self.accrue(t)
        if t % tpd == tpd - 1:
            self.end_of_day(t)

    def scenario_events(self, t: int) -> None:
        for tick, kind, frm, to, amount in self.sched_events:
            if tick != t:
                continue
            names = {"sender": self.s.agent_ids[frm], "receiver": self.s.agent_ids[to]}
            if kind == KIND_DIRECT_TRANSFER:
                self.balance[frm] -= amount
                self.balance[to] += amount
                self.emit(t, "DirectTransfer", amount=amount, **names)
            elif amount <= self.available(frm):
                self.balance[frm] -= amount
                self.credit(to, amount)
                self.emit(t, "Settlement", tx=None, amount=amount, path="scheduled", **names)
            else:
                self.emit(t, "ScheduledSettlementFailed", amount=amount, **names)

    # ------------------------------------------------------------------ policies
    def bank_base(self, a: int, t: int) -> dict[str, Any]:
        s = self.s
        rates = s.rates.raw
        mine_q2 = [tx for tx in self.q2 if tx.sender == a]
        day = t // s.ticks_per_day
        today = [tx for tx in self.txs if tx.sender == a and tx.status != "future"
                 and tx.arrival // s.ticks_per_day == day]
        return {
            "balance": float(self.balance[a]),
            "unsecured_cap": float(self.cap[a]),
            "posted_collateral": float(s.posted_collateral[a]),
            "haircut": float(s.haircut[a]),
            "max_collateral_capacity": float(s.max_collateral[a]),
            "q1_value": float(sum(tx.remaining for tx in self.q1[a])),
            "q1_count": float(len(self.q1[a])),
            "q2_count_agent": float(len(mine_q2)),
            "q2_size": float(len(self.q2)),
            "q2_value": float(sum(tx.remaining for tx in self.q2)),
            "q2_nearest_deadline": float(min((tx.deadline for tx in mine_q2), default=math.inf)),
            "arrived_value_today": float(sum(tx.amount for tx in today)),
            "settled_value_today": float(sum(tx.amount for tx in today if tx.status == "settled")),
            "tick": float(t),
            "tpd": float(s.ticks_per_day),
            "n_agents": float(s.n_agents),
            "eod_rush_threshold": s.eod_rush_threshold,
            "delay_rate": rates.delay_cost_per_tick_per_cent,
            "overdraft_bps": rates.overdraft_bps_per_tick,
            "collateral_bps": rates.collateral_cost_per_tick_bps,
            "overdue_multiplier": rates.overdue_delay_multiplier,
            "split_friction": float(rates.split_friction_cost),
            "deadline_penalty_here": float(s.rates.deadline_penalty.of_int(0)),
            "eod_penalty_here": float(s.rates.eod_penalty.of_int(0)),
            "registers": lambda name: self.registers[a].get(name, 0.0),
        }

    def bank_tree(self, a: int, t: int) -> None:
        program = self.s.programs[a]
        self.budget[a] = None
        if not program.has_tree("bank_tree"):
            return
        node, args = program.decide_one("bank_tree", self.bank_base(a, t))
        self.emit(t, "BankDecision", agent=self.s.agent_ids[a], action=node.action, node=node.node_id)
        if node.action == "SetState":
            self.registers[a][str(args["key"])] = float(args["value"])
        elif node.action == "AddState":
            key = str(args["key"])
            self.registers[a][key] = self.registers[a].get(key, 0.0) + float(args["value"])
        elif node.action == "SetReleaseBudget":
            focus = args.get("focus_counterparties", args.get("focus_cpty_list"))
            per = args.get("max_per_counterparty", args.get("max_per_cpty"))
            name = program.name
            self.budget[a] = Budget(
                left=whole_arg(float(args["max_value_to_release"]), 0, BUDGET_MAX,
                               "max_value_to_release", name, floor=True),
                focus=None if focus is None else tuple(
                    self.s.agent_ids.index(x) for x in focus if x in self.s.agent_ids),
                per_cpty=None if per is None else whole_arg(
                    float(per), 0, BUDGET_MAX, "max_per_counterparty", name, floor=True),
                used={},
            )

    def payment_pass(self, t: int) -> list[Tx]:
        """Decide every Queue-1 payment against one snapshot per bank; return releases in order."""
        pending: list[Tx] = []
        for a in range(self.s.n_agents):
            queue = self.q1[a]
            if not queue:
                continue
            program = self.s.programs[a]
            base = self.bank_base(a, t)
            decisions = []
            for tx in queue:
                ctx = {**base, "amount": float(tx.amount), "remaining": float(tx.remaining),
                       "arrival_tick": float(tx.arrival), "deadline_tick": float(tx.deadline),
                       "priority": float(tx.priority), "is_split": 0.0, "in_queue2": 0.0,
                       "deadline_penalty_here": float(self.s.rates.deadline_penalty.of_int(tx.amount)),
                       "eod_penalty_here": float(self.s.rates.eod_penalty.of_int(tx.remaining))}
                decisions.append(program.decide_one("payment_tree", ctx))
            self.decisions += len(queue)
            keep: list[Tx] = []
            for tx, (node, args) in zip(queue, decisions, strict=True):
                self.emit(t, "PolicyDecision", agent=self.s.agent_ids[a], tx=tx.id,
                          action=node.action, node=node.node_id)
                if node.action in ("Release", "ReleaseWithCredit") and self._may_release(tx, args, t):
                    pending.append(tx)
                elif node.action == "Drop":
                    tx.status = "dropped"
                else:
                    if node.action == "Reprioritize":
                        tx.priority = whole_arg(float(args["new_priority"]), 0, 10,
                                                "new_priority", program.name, floor=False)
                    keep.append(tx)
            self.q1[a] = keep
        return pending

    def _may_release(self, tx: Tx, args: dict[str, Any], t: int) -> bool:
        timed = args.get("timed_for_tick")
        if timed is not None and timed > t:
            return False
        budget = self.budget[tx.sender]
        if budget is not None:
            used = budget.used.get(tx.receiver, 0)
            if (tx.remaining > budget.left
                    or (budget.focus is not None and tx.receiver not in budget.focus)
                    or (budget.per_cpty is not None and used + tx.remaining > budget.per_cpty)):
                return False
            budget.left -= tx.remaining
            budget.used[tx.receiver] = used + tx.remaining
        flag = args.get("priority_flag")
        if isinstance(flag, str) and flag in PRIORITY_FLAGS:
            tx.priority = PRIORITY_FLAGS[flag]
        return True

    # ------------------------------------------------------------------ settlement
    def queue2_pass(self, t: int) -> bool:
        """One FIFO pass over Queue 2: settle each payment whose sender can afford it."""
        settled_any = False
        still: list[Tx] = []
        for tx in self.q2:
            if tx.remaining <= self.available(tx.sender):
                self.settle(tx, t, "queue2")
                settled_any = True
            else:
                still.append(tx)
        self.q2 = still
        return settled_any

    def offsetting(self, t: int) -> None:
        """Bilateral offsetting of Queue 2, up to three rounds (each followed by a FIFO pass)."""
        for _ in range(3):
            flows: dict[tuple[int, int], int] = {}
            for tx in self.q2:
                key = (tx.sender, tx.receiver)
                flows[key] = flows.get(key, 0) + tx.remaining
            ready = sorted(
                (-min(v, flows[(b, a)]), a, b)
                for (a, b), v in flows.items() if a < b and (b, a) in flows
            )
            offset_pairs = set()
            for _neg, a, b in ready:
                out_a, out_b = flows[(a, b)], flows[(b, a)]
                payer, payee = (a, b) if out_a >= out_b else (b, a)
                net = abs(out_a - out_b)
                limit = self._collateral_capacity(payer) + self.cap[payer]
                if self.balance[payer] - net < -limit:
                    continue
                self.balance[payer] -= net
                self.credit(payee, net)
                offset_pairs.add((a, b))
                self.emit(t, "LsmOffset", agents=[self.s.agent_ids[a], self.s.agent_ids[b]],
                          gross=out_a + out_b, net=net)
            if not offset_pairs:
                return
            still = []
            for tx in self.q2:
                if (min(tx.sender, tx.receiver), max(tx.sender, tx.receiver)) in offset_pairs:
                    self.emit(t, "Settlement", tx=tx.id, sender=self.s.agent_ids[tx.sender],
                              receiver=self.s.agent_ids[tx.receiver], amount=tx.remaining,
                              path="offset")
                    tx.remaining, tx.status, tx.settle_tick = 0, "settled", t
                else:
                    still.append(tx)
            self.q2 = still
            self.queue2_pass(t)
            if not self.q2:
                return

    # ------------------------------------------------------------------ costs
    def accrue(self, t: int) -> None:
        s, r = self.s, self.s.rates
        day = t // s.ticks_per_day
        cost = self.costs[day]
        weight = [0] * s.n_agents
        for tx in self.txs:
            if tx.status not in UNSETTLED and not (tx.status == "settled" and tx.settle_tick > tx.deadline):
                continue
            if tx.deadline == t - 1:  # going overdue: once, at the first tick past the deadline
                cost[tx.sender, C["deadline_penalty"]] += r.deadline_penalty.of_int(tx.amount)
                self.emit(t, "Overdue", tx=tx.id, sender=s.agent_ids[tx.sender],
                          penalty=r.deadline_penalty.of_int(tx.amount))
            if tx.status in UNSETTLED:
                weight[tx.sender] += tx.remaining * r.delay_weight_int(tx.priority, t > tx.deadline)
        for a in range(s.n_agents):
            add = {
                "liquidity_opportunity": mul_div_int(self.allocated[a], r.liquidity, BPS_DEN, half_up=True),
                "overdraft": mul_div_int(max(0, -self.balance[a]), r.overdraft, OVERDRAFT_DEN, half_up=True),
                "delay": mul_div_int(weight[a], r.delay, DELAY_DEN, half_up=True),
                "collateral": mul_div_int(int(s.posted_collateral[a]), r.collateral, BPS_DEN, half_up=True),
            }
            for name, value in add.items():
                cost[a, C[name]] += value
            if self.trace and any(add.values()):
                self.emit(t, "CostAccrual", agent=s.agent_ids[a], **add)

    def end_of_day(self, t: int) -> None:
        s = self.s
        day = t // s.ticks_per_day
        for tx in self.txs:
            if tx.status in UNSETTLED and (s.eod_all_unsettled or tx.deadline < t):
                penalty = s.rates.eod_penalty.of_int(tx.remaining)
                self.costs[day, tx.sender, C["eod_penalty"]] += penalty
                self.emit(t, "EodPenalty", tx=tx.id, sender=s.agent_ids[tx.sender], penalty=penalty)
        for a in range(s.n_agents):
            self.registers[a] = {}
            self.balance[a] -= self.allocated[a]  # pooled liquidity goes back at end of day
            self.allocated[a] = 0
        self.emit(t, "EndOfDay", day=day,
                  unsettled=sum(1 for tx in self.txs if tx.status in UNSETTLED))

    def _table(self) -> CostTable:
        s = self.s
        days, n = s.days_simulated, s.n_agents
        counts = {k: np.zeros((1, days, n), dtype=np.int64) for k in
                  ("arrived_count", "settled_count", "arrived_value", "settled_value", "delay_ticks")}
        for tx in self.txs:
            if tx.arrival >= s.horizon:
                continue
            d = tx.arrival // s.ticks_per_day
            counts["arrived_count"][0, d, tx.sender] += 1
            counts["arrived_value"][0, d, tx.sender] += tx.amount
            if tx.status == "settled":
                counts["settled_count"][0, d, tx.sender] += 1
                counts["settled_value"][0, d, tx.sender] += tx.amount
                counts["delay_ticks"][0, d, tx.sender] += tx.settle_tick - tx.arrival
        final = np.array([self.balance], dtype=np.int64)
        settle = np.array([tx.settle_tick for tx in self.txs], dtype=np.int64)
        return CostTable(s.agent_ids, self.costs[None].copy(), final_balance=final,
                         decisions=self.decisions, settle_tick=settle,
                         payment_counts=np.array([settle.size], dtype=np.int64), **counts)
