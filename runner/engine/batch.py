"""The batch engine: many samples of one setup at once, as int64 numpy arrays.

It follows `runner.engine.reference` rule for rule (the property tests hold it to the cent);
the difference is layout. State lives in flat arrays — payments ``[sample × payment]`` and
bank accounts ``[sample × agent]`` ("lanes") — and each tick step is an array expression:

* policies decide every Queue-1 payment of the tick in one batched tree walk (the snapshot
  rule makes the decisions independent);
* settlement "in order, settle if affordable" is a sequential scan, so it iterates over the
  *rank* of a payment within its lane and vectorises across lanes. A lane is a sample with
  immediate crediting, and a (sample, bank) pair with deferred crediting — then a bank's
  settlements only touch its own balance within the tick. Payments that cannot be afforded
  even if every queued inflow arrived are filtered out before the scan, so a long central
  queue of stuck payments costs one array comparison, not one step each.

All work per tick is linear in the payments present.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from runner.engine.rates import BPS_DEN, C, COMPONENTS, DELAY_DEN, OVERDRAFT_DEN, mul_div
from runner.engine.results import CostTable
from runner.engine.schedule import KIND_DIRECT_TRANSFER, Schedule
from runner.engine.setup import EngineSetup
from runner.policy.fields import STATE_PREFIX
from runner.policy.program import PolicyProgram

FUTURE, Q1, Q2, DROPPED, SETTLED = 0, 1, 2, 3, 4
PRIORITY_FLAGS = {"HIGH": 10, "MEDIUM": 5, "LOW": 1}


def evaluate_batch(setup: EngineSetup, schedules: Sequence[Schedule]) -> CostTable:
    """Simulate every schedule under ``setup``; costs identical to the reference engine's.

    Example:
        >>> table = evaluate_batch(setup, [generate_schedule(cfg, s) for s in range(100)])  # doctest: +SKIP
        >>> table.totals().shape
        (100, 2)
    """
    day = _BatchDay(setup, schedules)
    for t in range(setup.horizon):
        day.tick(t)
    return day.table()


def rank_steps(lanes: np.ndarray, keys: np.ndarray) -> list[np.ndarray]:
    """Group entry positions by their rank within their lane, in ``keys`` order.

    Step k holds the k-th entry of every lane that has one, so processing the steps in order
    replays each lane's sequence while handling all lanes of a step at once.
    """
    if lanes.size == 0:
        return []
    order = np.lexsort((keys, lanes))
    sorted_lanes = lanes[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = sorted_lanes[1:] != sorted_lanes[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(order.size) - np.repeat(starts, np.diff(np.append(starts, order.size)))
    by_rank = order[np.argsort(rank, kind="stable")]
    return np.split(by_rank, np.cumsum(np.bincount(rank))[:-1])


def _stack(schedules: Sequence[Schedule], attr_n: str, names: tuple[str, ...],
           fill: dict[str, int]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    sizes = [getattr(s, attr_n) for s in schedules]
    width = max([1, *sizes])
    out = {n: np.full((len(schedules), width), fill.get(n, 0), dtype=np.int64) for n in names}
    valid = np.zeros((len(schedules), width), dtype=bool)
    for i, (s, k) in enumerate(zip(schedules, sizes, strict=True)):
        for n in names:
            out[n][i, :k] = getattr(s, n)
        valid[i, :k] = True
    return out, valid


class _BatchDay:
    def __init__(self, setup: EngineSetup, schedules: Sequence[Schedule]) -> None:
        s = self.s = setup
        S, A = len(schedules), s.n_agents
        self.S, self.A = S, A
        pay, valid = _stack(schedules, "n_payments",
                            ("sender", "receiver", "amount", "arrival", "deadline", "priority"),
                            {"arrival": s.horizon})
        P = self.P = pay["amount"].shape[1]
        self.valid = valid.ravel()
        self.snd, self.rcv = pay["sender"].ravel(), pay["receiver"].ravel()
        self.amt, self.arr = pay["amount"].ravel(), pay["arrival"].ravel()
        self.dl, self.pri = pay["deadline"].ravel(), pay["priority"].ravel().copy()
        self.samp = np.repeat(np.arange(S, dtype=np.int64), P)
        self.pos = np.tile(np.arange(P, dtype=np.int64), S)  # queue-entry order within a sample
        self.sl = self.samp * A + self.snd  # sender lane
        self.rl = self.samp * A + self.rcv  # receiver lane
        self.status = np.full(S * P, FUTURE, dtype=np.int8)
        self.rem = self.amt.copy()
        self.stick = np.full(S * P, -1, dtype=np.int64)
        self.q2key = np.zeros(S * P, dtype=np.int64)
        self.by_arrival = self._group_by(np.where(self.valid, self.arr, s.horizon))
        self.by_deadline = self._group_by(np.where(self.valid, self.dl + 1, s.horizon))
        ev, ev_valid = _stack(schedules, "n_events",
                              ("event_tick", "event_kind", "event_from", "event_to", "event_amount"),
                              {"event_tick": s.horizon})
        self.ev = {k: v.ravel() for k, v in ev.items()}
        self.ev_samp = np.repeat(np.arange(S, dtype=np.int64), ev["event_tick"].shape[1])
        self.ev_pos = np.tile(np.arange(ev["event_tick"].shape[1], dtype=np.int64), S)
        self.ev_by_tick = self._group_by(np.where(ev_valid.ravel(), self.ev["event_tick"], s.horizon))
        # lanes
        def lanes(x: np.ndarray) -> np.ndarray:
            return np.tile(np.asarray(x), S)

        self.bal = lanes(s.opening).astype(np.int64)
        self.cap = lanes(s.unsecured_cap).astype(np.int64)
        self.pool = lanes(s.pool)
        self.alloc_amount = lanes(s.allocation)
        self.posted = lanes(s.posted_collateral)
        self.haircut = lanes(s.haircut)
        self.max_collateral = lanes(s.max_collateral)
        self.collateral_capacity = np.floor(self.posted * np.maximum(0.0, 1.0 - self.haircut)).astype(np.int64)
        self.allocated = self.alloc_amount.copy()
        self.bal += self.allocated
        self.incoming = np.zeros(S * A, dtype=np.int64)
        self.registers: dict[str, np.ndarray] = {}
        self.budget_left = np.full(S * A, -1, dtype=np.int64)
        self.budget_focus = np.ones((S * A, A), dtype=bool)
        self.budget_per = np.full(S * A, -1, dtype=np.int64)
        self.budget_used = np.zeros((S * A, A), dtype=np.int64)
        self.costs = np.zeros((S, s.days_simulated, A, len(COMPONENTS)), dtype=np.int64)
        self.decisions = 0
        self.lane_agent = lanes(np.arange(A))
        self.groups = self._policy_groups()

    def _group_by(self, ticks: np.ndarray) -> list[np.ndarray]:
        """Indices grouped by tick value (values ≥ horizon are dropped)."""
        order = np.argsort(ticks, kind="stable")
        bounds = np.searchsorted(ticks[order], np.arange(self.s.horizon + 1))
        return [order[bounds[t]:bounds[t + 1]] for t in range(self.s.horizon)]

    def _policy_groups(self) -> list[tuple[PolicyProgram, np.ndarray]]:
        """Agents sharing one policy object are decided together."""
        groups: dict[int, tuple[PolicyProgram, list[int]]] = {}
        for a, program in enumerate(self.s.programs):
            key = id(program.policy)
            groups.setdefault(key, (program, []))[1].append(a)
        return [(prog, np.asarray(agents)) for prog, agents in groups.values()]

    # ------------------------------------------------------------------ helpers
    def available(self, lanes: np.ndarray) -> np.ndarray:
        b = self.bal[lanes]
        limit = self.collateral_capacity[lanes] + self.cap[lanes]
        return np.maximum(b, 0) + np.maximum(0, limit - np.maximum(0, -b))

    def credit(self, lanes: np.ndarray, amounts: np.ndarray, unique: bool) -> None:
        if self.s.deferred_crediting:
            np.add.at(self.incoming, lanes, amounts)
        elif unique:
            self.bal[lanes] += amounts
        else:
            np.add.at(self.bal, lanes, amounts)

    def settle_rows(self, rows: np.ndarray, t: int) -> None:
        self.status[rows] = SETTLED
        self.stick[rows] = t
        self.rem[rows] = 0

    # ------------------------------------------------------------------ the tick
    def tick(self, t: int) -> None:
        s = self.s
        tpd = s.ticks_per_day
        if t % tpd == 0 and t > 0:
            has_pool = self.pool > 0
            self.allocated = np.where(has_pool, self.alloc_amount, self.allocated)
            self.bal += np.where(has_pool, self.alloc_amount, 0)
        self.scenario_events(t)
        self.status[self.by_arrival[t]] = Q1
        self.lane_cache: dict[str, np.ndarray] = {}
        self.budget_left[:] = -1
        for program, agents in self.groups:
            if program.has_tree("bank_tree"):
                self.bank_tree(program, agents, t)
        pending = self.payment_pass(t)
        if pending.size:
            settled = self.settle_in_order(pending, self.snd[pending] * self.P + self.pos[pending], t)
            failed = pending[~settled]
            self.status[failed] = Q2
            self.q2key[failed] = (t * self.A + self.snd[failed]) * self.P + self.pos[failed]
        self.queue2_pass(t)
        if s.bilateral_lsm:
            self.offsetting(t)
        if s.deferred_crediting:
            self.bal += self.incoming
            self.incoming[:] = 0
        self.accrue(t)
        if t % tpd == tpd - 1:
            self.end_of_day(t)

    def scenario_events(self, t: int) -> None:
        idx = self.ev_by_tick[t]
        if idx.size == 0:
            return
        for step in rank_steps(self.ev_samp[idx], self.ev_pos[idx]):
            e = idx[step]
            samp = self.ev_samp[e]
            frm = samp * self.A + self.ev["event_from"][e]
            to = samp * self.A + self.ev["event_to"][e]
            amount = self.ev["event_amount"][e]
            direct = self.ev["event_kind"][e] == KIND_DIRECT_TRANSFER
            self.bal[frm[direct]] -= amount[direct]
            self.bal[to[direct]] += amount[direct]
            sched = ~direct
            ok = amount[sched] <= self.available(frm[sched])
            self.bal[frm[sched][ok]] -= amount[sched][ok]
            self.credit(to[sched][ok], amount[sched][ok], unique=True)

    # ------------------------------------------------------------------ settlement
    def settle_in_order(self, rows: np.ndarray, keys: np.ndarray, t: int) -> np.ndarray:
        """Settle ``rows`` lane by lane in ``keys`` order when affordable; returns the mask."""
        deferred = self.s.deferred_crediting
        lanes = self.sl[rows] if deferred else self.samp[rows]
        bound = self.available(self.sl[rows])
        if not deferred:  # inflows during this pass can only come from these same rows
            inflow = np.zeros(self.S * self.A, dtype=np.int64)
            np.add.at(inflow, self.rl[rows], self.rem[rows])
            bound = bound + inflow[self.sl[rows]]
        candidates = np.flatnonzero(self.rem[rows] <= bound)
        settled = np.zeros(rows.size, dtype=bool)
        for step in rank_steps(lanes[candidates], keys[candidates]):
            where = candidates[step]
            e = rows[where]
            need = self.rem[e]
            ok = need <= self.available(self.sl[e])
            e_ok = e[ok]
            self.bal[self.sl[e_ok]] -= need[ok]
            self.credit(self.rl[e_ok], need[ok], unique=True)
            self.settle_rows(e_ok, t)
            settled[where[ok]] = True
        return settled

    def queue2_pass(self, t: int) -> bool:
        rows = np.flatnonzero(self.status == Q2)
        if rows.size == 0:
            return False
        return bool(self.settle_in_order(rows, self.q2key[rows], t).any())

    def offsetting(self, t: int) -> None:
        S, A = self.S, self.A
        for _ in range(3):
            rows = np.flatnonzero(self.status == Q2)
            if rows.size == 0:
                return
            flow = np.zeros(S * A * A, dtype=np.int64)
            np.add.at(flow, self.sl[rows] * A + self.rcv[rows], self.rem[rows])
            F = flow.reshape(S, A, A)
            ready = (F > 0) & (F.transpose(0, 2, 1) > 0) & np.triu(np.ones((A, A), dtype=bool), 1)
            si, ai, bi = np.nonzero(ready)
            if si.size == 0:
                return
            out_a, out_b = F[si, ai, bi], F[si, bi, ai]
            smaller = np.minimum(out_a, out_b)
            done = np.zeros((S, A, A), dtype=bool)
            order_key = np.lexsort((bi, ai, -smaller))
            rank_of = np.empty_like(order_key)
            rank_of[order_key] = np.arange(order_key.size)
            for step in rank_steps(si, rank_of):
                p_is_a = out_a[step] >= out_b[step]
                payer = si[step] * A + np.where(p_is_a, ai[step], bi[step])
                payee = si[step] * A + np.where(p_is_a, bi[step], ai[step])
                net = np.abs(out_a[step] - out_b[step])
                limit = self.collateral_capacity[payer] + self.cap[payer]
                ok = self.bal[payer] - net >= -limit
                self.bal[payer[ok]] -= net[ok]
                self.credit(payee[ok], net[ok], unique=True)
                done[si[step][ok], ai[step][ok], bi[step][ok]] = True
            if not done.any():
                return
            lo, hi = np.minimum(self.snd[rows], self.rcv[rows]), np.maximum(self.snd[rows], self.rcv[rows])
            self.settle_rows(rows[done[self.samp[rows], lo, hi]], t)
            self.queue2_pass(t)

    # ------------------------------------------------------------------ policies
    def lane_stat(self, name: str) -> np.ndarray:
        """Per-lane base quantities for this tick, computed on first use."""
        if name in self.lane_cache:
            return self.lane_cache[name]
        L = self.S * self.A
        q1 = np.flatnonzero(self.status == Q1)
        q2 = np.flatnonzero(self.status == Q2)

        def per_lane(rows: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
            out = np.zeros(L, dtype=np.float64)
            np.add.at(out, self.sl[rows], 1.0 if values is None else values.astype(np.float64))
            return out

        def per_sample(values: np.ndarray) -> np.ndarray:
            return np.repeat(values.reshape(self.S, self.A).sum(axis=1), self.A)

        stats: dict[str, Any] = {}
        if name in ("q1_value", "q1_count"):
            stats = {"q1_value": per_lane(q1, self.rem[q1]), "q1_count": per_lane(q1)}
        elif name in ("q2_count_agent", "q2_size", "q2_value", "q2_nearest_deadline"):
            count, value = per_lane(q2), per_lane(q2, self.rem[q2])
            nearest = np.full(L, np.inf)
            np.minimum.at(nearest, self.sl[q2], self.dl[q2].astype(np.float64))
            stats = {"q2_count_agent": count, "q2_size": per_sample(count),
                     "q2_value": per_sample(value), "q2_nearest_deadline": nearest}
        elif name in ("arrived_value_today", "settled_value_today"):
            tpd = self.s.ticks_per_day
            t_day = self.current_tick // tpd
            today = np.flatnonzero((self.status != FUTURE) & (self.arr // tpd == t_day) & self.valid)
            done = today[self.status[today] == SETTLED]
            stats = {"arrived_value_today": per_lane(today, self.amt[today]),
                     "settled_value_today": per_lane(done, self.amt[done])}
        self.lane_cache.update(stats)
        return self.lane_cache[name]

    def base(self, lanes: np.ndarray, rows: np.ndarray | None, t: int) -> _Base:
        return _Base(self, lanes, rows, t)

    def bank_tree(self, program: PolicyProgram, agents: np.ndarray, t: int) -> None:
        self.current_tick = t
        lanes = np.flatnonzero(np.isin(self.lane_agent, agents))
        dec = program.decide_many("bank_tree", self.base(lanes, None, t), lanes.size)
        for i, leaf in enumerate(program.leaves("bank_tree")):
            sel = dec.leaf == i
            if not sel.any() or leaf.action == "NoAction":
                continue
            hit = lanes[sel]
            if leaf.action in ("SetState", "AddState"):
                reg = self.register(str(leaf.args["key"]))
                value = dec.args["value"][sel]
                reg[hit] = value if leaf.action == "SetState" else reg[hit] + value
            else:  # SetReleaseBudget
                self.budget_left[hit] = np.maximum(0, np.floor(dec.args["max_value_to_release"][sel])).astype(np.int64)
                focus = leaf.args.get("focus_counterparties", leaf.args.get("focus_cpty_list"))
                mask = np.ones(self.A, dtype=bool)
                if isinstance(focus, tuple):
                    mask = np.isin(np.asarray(self.s.agent_ids), focus)
                self.budget_focus[hit] = mask
                per_key = "max_per_counterparty" if "max_per_counterparty" in dec.args else "max_per_cpty"
                per = dec.args.get(per_key)
                self.budget_per[hit] = -1 if per is None else np.maximum(0, np.floor(per[sel])).astype(np.int64)
                self.budget_used[hit] = 0

    def register(self, key: str) -> np.ndarray:
        if key not in self.registers:
            self.registers[key] = np.zeros(self.S * self.A)
        return self.registers[key]

    def payment_pass(self, t: int) -> np.ndarray:
        self.current_tick = t
        queued = np.flatnonzero(self.status == Q1)
        self.decisions += int(queued.size)
        released: list[np.ndarray] = []
        flags: list[np.ndarray] = []
        for program, agents in self.groups:
            rows = queued if len(self.groups) == 1 else queued[np.isin(self.snd[queued], agents)]
            if rows.size == 0:
                continue
            dec = program.decide_many("payment_tree", self.base(self.sl[rows], rows, t), rows.size)
            leaves = program.leaves("payment_tree")
            action = np.asarray([leaf.action for leaf in leaves])[dec.leaf]
            flag = np.asarray([PRIORITY_FLAGS.get(str(leaf.args.get("priority_flag")), -1)
                               for leaf in leaves], dtype=np.int64)[dec.leaf]
            go = np.isin(action, ("Release", "ReleaseWithCredit"))
            if "timed_for_tick" in dec.args:
                go &= ~(dec.args["timed_for_tick"] > t)
            self.status[rows[action == "Drop"]] = DROPPED
            repri = action == "Reprioritize"
            if repri.any():
                new = np.trunc(dec.args["new_priority"][repri])
                self.pri[rows[repri]] = np.clip(new, 0, 10).astype(np.int64)
            released.append(rows[go])
            flags.append(flag[go])
        if not released:
            return np.zeros(0, dtype=np.int64)
        out, flag = np.concatenate(released), np.concatenate(flags)
        keep = self.apply_budgets(out)
        out, flag = out[keep], flag[keep]
        has_flag = flag >= 0
        self.pri[out[has_flag]] = flag[has_flag]
        return out

    def apply_budgets(self, rows: np.ndarray) -> np.ndarray:
        """Which released rows fit their bank's release budget (consumed in queue order)."""
        keep = np.ones(rows.size, dtype=bool)
        limited = np.flatnonzero(self.budget_left[self.sl[rows]] >= 0)
        for step in rank_steps(self.sl[rows[limited]], self.pos[rows[limited]]):
            where = limited[step]
            e = rows[where]
            lane, need, to = self.sl[e], self.rem[e], self.rcv[e]
            per = self.budget_per[lane]
            used = self.budget_used[lane, to]
            ok = ((need <= self.budget_left[lane]) & self.budget_focus[lane, to]
                  & ((per < 0) | (used + need <= per)))
            self.budget_left[lane[ok]] -= need[ok]
            self.budget_used[lane[ok], to[ok]] += need[ok]
            keep[where[~ok]] = False
        return keep

    # ------------------------------------------------------------------ costs
    def accrue(self, t: int) -> None:
        s, r = self.s, self.s.rates
        day = t // s.ticks_per_day
        L = self.S * self.A
        lane_costs = np.zeros((L, len(COMPONENTS)), dtype=np.int64)
        due = self.by_deadline[t] if t < len(self.by_deadline) else np.zeros(0, dtype=np.int64)
        if due.size:
            st = self.status[due]
            late = ((st >= Q1) & (st <= DROPPED)) | ((st == SETTLED) & (self.stick[due] > self.dl[due]))
            due = due[late]
            np.add.at(lane_costs[:, C["deadline_penalty"]], self.sl[due], r.deadline_penalty.of(self.amt[due]))
        unsettled = np.flatnonzero((self.status >= Q1) & (self.status <= DROPPED))
        weight = np.zeros(L, dtype=np.int64)
        np.add.at(weight, self.sl[unsettled],
                  self.rem[unsettled] * r.delay_weight(self.pri[unsettled], t > self.dl[unsettled]))
        lane_costs[:, C["delay"]] = mul_div(weight, r.delay, DELAY_DEN, half_up=True)
        lane_costs[:, C["liquidity_opportunity"]] = mul_div(self.allocated, r.liquidity, BPS_DEN, half_up=True)
        lane_costs[:, C["overdraft"]] = mul_div(np.maximum(0, -self.bal), r.overdraft, OVERDRAFT_DEN, half_up=True)
        lane_costs[:, C["collateral"]] = mul_div(self.posted, r.collateral, BPS_DEN, half_up=True)
        self.costs[:, day] += lane_costs.reshape(self.S, self.A, -1)

    def end_of_day(self, t: int) -> None:
        s = self.s
        day = t // s.ticks_per_day
        rows = np.flatnonzero((self.status >= Q1) & (self.status <= DROPPED))
        if not s.eod_all_unsettled:
            rows = rows[self.dl[rows] < t]
        penalty = np.zeros(self.S * self.A, dtype=np.int64)
        np.add.at(penalty, self.sl[rows], s.rates.eod_penalty.of(self.rem[rows]))
        self.costs[:, day, :, C["eod_penalty"]] += penalty.reshape(self.S, self.A)
        for reg in self.registers.values():
            reg[:] = 0.0
        self.bal -= self.allocated
        self.allocated = np.zeros_like(self.allocated)

    def table(self) -> CostTable:
        s = self.s
        D = s.days_simulated
        rows = np.flatnonzero(self.valid & (self.arr < s.horizon))
        cell = (self.samp[rows] * D + self.arr[rows] // s.ticks_per_day) * self.A + self.snd[rows]
        done = self.status[rows] == SETTLED

        def total(values: np.ndarray) -> np.ndarray:
            out = np.zeros(self.S * D * self.A, dtype=np.int64)
            np.add.at(out, cell, values)
            return out.reshape(self.S, D, self.A)

        return CostTable(
            s.agent_ids, self.costs,
            arrived_count=total(np.ones(rows.size, dtype=np.int64)),
            settled_count=total(done.astype(np.int64)),
            arrived_value=total(self.amt[rows]),
            settled_value=total(np.where(done, self.amt[rows], 0)),
            delay_ticks=total(np.where(done, self.stick[rows] - self.arr[rows], 0)),
            final_balance=self.bal.reshape(self.S, self.A).copy(),
            decisions=self.decisions,
        )


class _Base:
    """Base quantities for a batch of decisions (bank lanes, and payment rows if any)."""

    def __init__(self, day: _BatchDay, lanes: np.ndarray, rows: np.ndarray | None, t: int) -> None:
        self.day, self.lanes, self.rows, self.t = day, lanes, rows, t

    def __getitem__(self, name: str) -> Any:  # noqa: C901, PLR0911, PLR0912 — a flat lookup table
        d, lanes, rows = self.day, self.lanes, self.rows
        rates = d.s.rates.raw
        if rows is not None:
            tx = {"amount": d.amt, "remaining": d.rem, "arrival_tick": d.arr,
                  "deadline_tick": d.dl, "priority": d.pri}
            if name in tx:
                return tx[name][rows].astype(np.float64)
            if name in ("is_split", "in_queue2"):
                return np.zeros(rows.size)
            if name == "deadline_penalty_here":
                return d.s.rates.deadline_penalty.of(d.amt[rows]).astype(np.float64)
            if name == "eod_penalty_here":
                return d.s.rates.eod_penalty.of(d.rem[rows]).astype(np.float64)
        simple = {
            "tick": float(self.t), "tpd": float(d.s.ticks_per_day), "n_agents": float(d.A),
            "eod_rush_threshold": d.s.eod_rush_threshold, "delay_rate": rates.delay_cost_per_tick_per_cent,
            "overdraft_bps": rates.overdraft_bps_per_tick, "collateral_bps": rates.collateral_cost_per_tick_bps,
            "overdue_multiplier": rates.overdue_delay_multiplier,
            "split_friction": float(rates.split_friction_cost),
        }
        if name in simple:
            return np.full(lanes.size, simple[name])
        if name == "deadline_penalty_here":
            return np.full(lanes.size, float(d.s.rates.deadline_penalty.of_int(0)))
        if name == "eod_penalty_here":
            return np.full(lanes.size, float(d.s.rates.eod_penalty.of_int(0)))
        if name == "registers":
            return lambda key: d.register(key)[lanes] if key.startswith(STATE_PREFIX) else 0.0
        account = {"balance": d.bal, "unsecured_cap": d.cap, "posted_collateral": d.posted,
                   "haircut": d.haircut, "max_collateral_capacity": d.max_collateral}
        if name in account:
            return account[name][lanes].astype(np.float64)
        return d.lane_stat(name)[lanes]
