"""Policies in the batch engine: bank trees, the payment pass over Queue 1, release budgets,
and the base quantities the policy fields are computed from.

The snapshot rule (every Queue-1 payment of a bank is judged against the same snapshot of
the bank within a tick) makes the decisions of a tick independent, so each policy decides
all of its rows in one batched tree walk (`PolicyProgram.decide_many`). A payment tree that
is a single action without computed arguments (e.g. plain "Release") needs no walk at all:
every row reaches that leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

from runner.engine.batch_settlement import DROPPED, SETTLED, Settlement, lane_sum, rank_steps
from runner.engine.reference import BUDGET_MAX
from runner.engine.setup import EngineSetup
from runner.errors import SimulationError
from runner.policy import ast
from runner.policy.fields import STATE_PREFIX
from runner.policy.program import PolicyProgram

PRIORITY_FLAGS = {"HIGH": 10, "MEDIUM": 5, "LOW": 1}
RELEASE_ACTIONS = ("Release", "ReleaseWithCredit")
PER_CPTY_KEYS = ("max_per_counterparty", "max_per_cpty")  # first present wins


@dataclass(frozen=True)
class PolicyGroup:
    """Agents sharing one policy object, decided together; tables per payment-tree leaf."""

    program: PolicyProgram
    agents: np.ndarray
    release: np.ndarray  # bool: Release / ReleaseWithCredit
    drop: np.ndarray  # bool: Drop
    repri: np.ndarray  # bool: Reprioritize
    flag: np.ndarray  # int64: priority flag, -1 for none
    constant: bool  # the tree is one action without numeric arguments: every row gets leaf 0

    @classmethod
    def build(cls, program: PolicyProgram, agents: list[int]) -> PolicyGroup:
        leaves = program.leaves("payment_tree")
        root = program.policy.trees["payment_tree"]
        flags = [PRIORITY_FLAGS.get(str(n.args.get("priority_flag")), -1) for n in leaves]
        return cls(
            program, np.asarray(agents),
            release=np.array([n.action in RELEASE_ACTIONS for n in leaves]),
            drop=np.array([n.action == "Drop" for n in leaves]),
            repri=np.array([n.action == "Reprioritize" for n in leaves]),
            flag=np.array(flags, dtype=np.int64),
            constant=isinstance(root, ast.ActionNode)
            and all(isinstance(a, str | tuple) for a in root.args.values()),
        )


def whole_args(values: np.ndarray, hi: int, what: str, policy: str, *, floor: bool) -> np.ndarray:
    """Numeric action arguments as int64 in ``[0, hi]``: the array twin of
    `runner.engine.reference.whole_arg` (floor or truncate, clamp; NaN is a SimulationError).

    A bare ``astype(np.int64)`` would not do: it turns NaN and values >= 2**63 (e.g. a
    budget computed from ``queue2_nearest_deadline``) into INT64_MIN, and a negative budget
    means "no budget" (the focus list dropped).
    """
    if np.isnan(values).any():
        raise SimulationError(f"policy {policy}: {what} is not a number (NaN)")
    whole = np.floor(values) if floor else np.trunc(values)
    out: np.ndarray = np.clip(whole, 0, hi).astype(np.int64)
    return out


_GROUPS: WeakKeyDictionary[EngineSetup, list[PolicyGroup]] = WeakKeyDictionary()


def policy_groups(setup: EngineSetup) -> list[PolicyGroup]:
    """Agents sharing one policy object are decided together (built once per setup)."""
    if setup not in _GROUPS:
        groups: dict[int, tuple[PolicyProgram, list[int]]] = {}
        for a, program in enumerate(setup.programs):
            groups.setdefault(id(program.policy), (program, []))[1].append(a)
        _GROUPS[setup] = [PolicyGroup.build(program, agents) for program, agents in groups.values()]
    return _GROUPS[setup]


class Policies(Settlement):
    """Policy decisions over the day's state (set up by `runner.engine.batch`)."""

    s: EngineSetup
    amt: np.ndarray
    arr: np.ndarray
    dl: np.ndarray
    pri: np.ndarray
    sl_key: np.ndarray  # sender lanes as a small integer type (fast stable sorts)
    q1: np.ndarray  # rows in Queue 1, in row order
    dropped: np.ndarray
    by_arrival: list[np.ndarray]
    groups: list[PolicyGroup]
    group_of: np.ndarray  # agent → index in `groups`
    has_bank_tree: bool
    constant_trees: bool  # every payment tree is one action without computed arguments
    agent_release: np.ndarray  # then per agent: that action releases / drops, its flag
    agent_drop: np.ndarray
    agent_flag: np.ndarray
    all_release: bool  # constant trees that all release, and no bank tree (so no budgets)
    current_tick: int
    lane_cache: dict[str, np.ndarray]
    registers: dict[str, np.ndarray]
    lane_agent: np.ndarray
    cap: np.ndarray
    posted: np.ndarray
    haircut: np.ndarray
    max_collateral: np.ndarray
    budget_left: np.ndarray  # -1: no budget this tick
    budget_focus: np.ndarray
    budget_per: np.ndarray
    budget_used: np.ndarray
    decisions: int

    # ------------------------------------------------------------------ bank trees
    def bank_trees(self, t: int) -> None:
        self.budget_left[:] = -1
        for group in self.groups:
            if group.program.has_tree("bank_tree"):
                self.bank_tree(group.program, group.agents, t)

    def bank_tree(self, program: PolicyProgram, agents: np.ndarray, t: int) -> None:
        lanes = np.flatnonzero(np.isin(self.lane_agent, agents))
        dec = program.decide_many("bank_tree", BaseQuantities(self, lanes, None, t), lanes.size)
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
                budget = dec.args["max_value_to_release"][sel]
                self.budget_left[hit] = whole_args(budget, BUDGET_MAX, "max_value_to_release",
                                                   program.name, floor=True)
                focus = leaf.args.get("focus_counterparties", leaf.args.get("focus_cpty_list"))
                mask = np.ones(self.A, dtype=bool)
                if isinstance(focus, tuple):
                    mask = np.isin(np.asarray(self.s.agent_ids), focus)
                self.budget_focus[hit] = mask
                # this leaf's own cap (dec.args holds every leaf's arguments, NaN elsewhere)
                key = next((k for k in PER_CPTY_KEYS if k in leaf.args), None)
                if key is None:
                    self.budget_per[hit] = -1
                else:
                    self.budget_per[hit] = whole_args(dec.args[key][sel], BUDGET_MAX,
                                                      "max_per_counterparty", program.name,
                                                      floor=True)
                self.budget_used[hit] = 0

    def register(self, key: str) -> np.ndarray:
        if key not in self.registers:
            self.registers[key] = np.zeros(self.S * self.A)
        return self.registers[key]

    # ------------------------------------------------------------------ payment trees
    def payment_pass(self, t: int) -> np.ndarray:
        """Decide every Queue-1 payment; returns the released rows in release order (by
        sender lane, then queue position: each sample's pending list in the reference)."""
        q1 = self.q1
        self.decisions += int(q1.size)
        if q1.size == 0:
            return q1
        if self.all_release:  # every payment is released and nothing limits it
            released: np.ndarray = q1[np.argsort(self.sl_key[q1], kind="stable")]
            flag = self.agent_flag[self.snd[released]]
            has_flag = flag >= 0
            self.pri[released[has_flag]] = flag[has_flag]
            self.q1 = q1[:0]
            return released
        go, drop, flag = self.decide(q1, t)
        if drop.any():
            self.status[q1[drop]] = DROPPED
            self.dropped = np.concatenate((self.dropped, q1[drop]))
        kept = q1[~(go | drop)]
        released = q1[go]
        flag = flag[go]
        order = np.argsort(self.sl_key[released], kind="stable")  # q1 is in row order
        released, flag = released[order], flag[order]
        if self.has_bank_tree and self.budget_left.max() >= 0:
            fits = self.apply_budgets(released)
            kept = np.sort(np.concatenate((kept, released[~fits])))  # over budget: stays in Q1
            released, flag = released[fits], flag[fits]
        has_flag = flag >= 0
        self.pri[released[has_flag]] = flag[has_flag]
        self.q1 = kept
        return released

    def decide(self, q1: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Payment-tree decisions for the rows ``q1``: release and drop masks and the priority
        flag of each row (-1 for none); applies Reprioritize."""
        if self.constant_trees:  # no tree to walk: one action per agent
            agent = self.snd[q1]
            return self.agent_release[agent], self.agent_drop[agent], self.agent_flag[agent]
        go = np.zeros(q1.size, dtype=bool)
        drop = np.zeros(q1.size, dtype=bool)
        flag = np.full(q1.size, -1, dtype=np.int64)
        for g, group in enumerate(self.groups):
            at: slice | np.ndarray = slice(None)
            if len(self.groups) > 1:
                at = np.flatnonzero(self.group_of[self.snd[q1]] == g)
            rows = q1[at]
            if rows.size == 0:
                continue
            leaf: np.ndarray = np.zeros(rows.size, dtype=np.int64)
            args: dict[str, np.ndarray] = {}
            if not group.constant:
                base = BaseQuantities(self, self.sl[rows], rows, t)
                dec = group.program.decide_many("payment_tree", base, rows.size)
                leaf, args = dec.leaf, dec.args
            release = group.release[leaf]
            if "timed_for_tick" in args:  # NaN (not on this row's leaf) compares False
                release &= ~(args["timed_for_tick"] > t)
            go[at], drop[at], flag[at] = release, group.drop[leaf], group.flag[leaf]
            repri = group.repri[leaf]
            if repri.any():
                self.pri[rows[repri]] = whole_args(args["new_priority"][repri], 10, "new_priority",
                                                   group.program.name, floor=False)
        return go, drop, flag

    def apply_budgets(self, rows: np.ndarray) -> np.ndarray:
        """Which released rows (in release order) fit their bank's release budget."""
        keep = np.ones(rows.size, dtype=bool)
        limited = np.flatnonzero(self.budget_left[self.sl[rows]] >= 0)
        for step in rank_steps(self.sl[rows[limited]]):
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

    # ------------------------------------------------------------------ base quantities
    def lane_stat(self, name: str) -> np.ndarray:
        """Per-lane base quantities for this tick, computed on first use."""
        if name in self.lane_cache:
            return self.lane_cache[name]
        n_samples, n_agents = self.S, self.A
        size = n_samples * n_agents

        def count(rows: np.ndarray) -> np.ndarray:
            return np.bincount(self.sl[rows], minlength=size).astype(np.float64)

        def value(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
            return lane_sum(self.sl[rows], values, size, self.exact).astype(np.float64)

        def per_sample(values: np.ndarray) -> np.ndarray:
            return np.repeat(values.reshape(n_samples, n_agents).sum(axis=1), n_agents)

        stats: dict[str, Any] = {}
        q1, q2 = self.q1, self.q2
        if name in ("q1_value", "q1_count"):
            stats = {"q1_value": value(q1, self.rem[q1]), "q1_count": count(q1)}
        elif name in ("q2_count_agent", "q2_size", "q2_value", "q2_nearest_deadline"):
            n, v = count(q2), value(q2, self.rem[q2])
            nearest = np.full(size, np.inf)
            np.minimum.at(nearest, self.sl[q2], self.dl[q2].astype(np.float64))
            stats = {"q2_count_agent": n, "q2_size": per_sample(n), "q2_value": per_sample(v),
                     "q2_nearest_deadline": nearest}
        elif name in ("arrived_value_today", "settled_value_today"):
            tpd, t = self.s.ticks_per_day, self.current_tick
            today = np.concatenate(self.by_arrival[t - t % tpd:t + 1])
            done = today[self.status[today] == SETTLED]
            stats = {"arrived_value_today": value(today, self.amt[today]),
                     "settled_value_today": value(done, self.amt[done])}
        self.lane_cache.update(stats)
        return self.lane_cache[name]


class BaseQuantities:
    """Base quantities for a batch of decisions (bank lanes, and payment rows if any)."""

    def __init__(self, day: Policies, lanes: np.ndarray, rows: np.ndarray | None, t: int) -> None:
        self.day, self.lanes, self.rows, self.t = day, lanes, rows, t

    def __getitem__(self, name: str) -> Any:
        d, lanes, rows = self.day, self.lanes, self.rows
        rates = d.s.rates
        if rows is not None:
            tx = {"amount": d.amt, "remaining": d.rem, "arrival_tick": d.arr,
                  "deadline_tick": d.dl, "priority": d.pri}
            if name in tx:
                return tx[name][rows].astype(np.float64)
            if name in ("is_split", "in_queue2"):
                return np.zeros(rows.size)
            if name == "deadline_penalty_here":
                return rates.deadline_penalty.of(d.amt[rows]).astype(np.float64)
            if name == "eod_penalty_here":
                return rates.eod_penalty.of(d.rem[rows]).astype(np.float64)
        raw = rates.raw
        simple = {
            "tick": float(self.t), "tpd": float(d.s.ticks_per_day), "n_agents": float(d.A),
            "eod_rush_threshold": d.s.eod_rush_threshold,
            "delay_rate": raw.delay_cost_per_tick_per_cent,
            "overdraft_bps": raw.overdraft_bps_per_tick,
            "collateral_bps": raw.collateral_cost_per_tick_bps,
            "overdue_multiplier": raw.overdue_delay_multiplier,
            "split_friction": float(raw.split_friction_cost),
            "deadline_penalty_here": float(rates.deadline_penalty.of_int(0)),
            "eod_penalty_here": float(rates.eod_penalty.of_int(0)),
        }
        if name in simple:
            return np.full(lanes.size, simple[name])
        if name == "registers":
            return lambda key: d.register(key)[lanes] if key.startswith(STATE_PREFIX) else 0.0
        account = {"balance": d.bal, "unsecured_cap": d.cap, "posted_collateral": d.posted,
                   "haircut": d.haircut, "max_collateral_capacity": d.max_collateral}
        if name in account:
            return account[name][lanes].astype(np.float64)
        return d.lane_stat(name)[lanes]
