"""Policies in the batch engine: bank trees, the payment pass over Queue 1, release budgets,
and the base quantities the policy fields are computed from.

The snapshot rule (every Queue-1 payment of a bank is judged against the same snapshot of
the bank within a tick) makes the decisions of a tick independent, so each policy decides
all of its rows in one batched tree walk (`PolicyProgram.decide_many`). A payment tree that
is a single action without computed arguments (e.g. plain "Release") needs no walk at all:
every row reaches that leaf.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from runner.engine.batch_policy_groups import PER_CPTY_KEYS, whole_args
from runner.engine.batch_runs import parts_in
from runner.engine.batch_settlement import rank_steps
from runner.engine.batch_split import SplitDecisions, decide_splits, split_rows
from runner.engine.batch_state import DROPPED, Q1, Q2, SETTLED, BatchState
from runner.engine.lane_sum import lane_sum
from runner.engine.reference_split import UNSUBMITTED_PART
from runner.engine.rules import BUDGET_MAX
from runner.policy.fields import STATE_PREFIX
from runner.policy.program import PolicyProgram


# ---------------------------------------------------------------------- bank trees
def bank_trees(day: BatchState, t: int) -> None:
    """Every bank tree. A release budget lasts (with what was released against it) until the
    tree answers ``NoAction`` or sets a new one; ``SetState`` / ``AddState`` leave it in
    place. Banks without a bank tree never have one."""
    for group in day.groups:
        if group.program.has_tree("bank_tree"):
            _bank_tree(day, group.program, group.agents, t)


def _bank_tree(day: BatchState, program: PolicyProgram, agents: np.ndarray, t: int) -> None:
    lanes = np.flatnonzero(np.isin(day.lane_agent, agents))
    dec = program.decide_many("bank_tree", BaseQuantities(day, lanes, None, t), lanes.size)
    for i, leaf in enumerate(program.leaves("bank_tree")):
        sel = dec.leaf == i
        if not sel.any():
            continue
        hit = lanes[sel]
        if leaf.action == "NoAction":
            day.budget_left[hit] = -1
            continue
        if leaf.action in ("SetState", "AddState"):
            reg = register(day, str(leaf.args["key"]))
            value = dec.args["value"][sel]
            reg[hit] = value if leaf.action == "SetState" else reg[hit] + value
            continue
        # SetReleaseBudget
        budget = dec.args["max_value_to_release"][sel]
        day.budget_left[hit] = whole_args(budget, BUDGET_MAX, "max_value_to_release", program.name, floor=True)
        focus = leaf.args.get("focus_counterparties", leaf.args.get("focus_cpty_list"))
        mask = np.ones(day.n_agents, dtype=bool)
        if isinstance(focus, tuple):
            mask = np.isin(np.asarray(day.setup.agent_ids), focus)
        day.budget_focus[hit] = mask
        # this leaf's own cap (dec.args holds every leaf's arguments, NaN elsewhere)
        key = next((k for k in PER_CPTY_KEYS if k in leaf.args), None)
        if key is None:
            day.budget_per_cpty[hit] = -1
        else:
            day.budget_per_cpty[hit] = whole_args(
                dec.args[key][sel], BUDGET_MAX, "max_per_counterparty", program.name, floor=True
            )
        day.budget_used[hit] = 0


def register(day: BatchState, key: str) -> np.ndarray:
    if key not in day.registers:
        day.registers[key] = np.zeros(day.n_lanes)
    return day.registers[key]


# ---------------------------------------------------------------------- payment trees
def escalate(day: BatchState, t: int) -> None:
    """Priority escalation, then Queue-1 ordering (as `runner.engine.reference._ReferenceDay.escalate`).

    An unsettled payment with ``r = max(0, deadline − t) ≤ S`` ticks left gets priority
    ``min(10, original + round_half_up(max_boost × (1 − r/S)))`` if that is higher; with
    ``queue1_ordering: priority_deadline`` each bank's Queue 1 is then stably sorted by
    priority (high first), then deadline — Queue 1 is then kept in queue order per lane, not
    in row order."""
    setup = day.setup
    start = setup.escalation_start
    if start <= 0 and not setup.queue1_priority_deadline:
        return
    if start > 0:
        rows = np.concatenate((day.q1, day.q2, day.dropped))
        left = np.maximum(0, day.deadline[rows] - t)
        near = left <= start
        rows, left = rows[near], left[near]
        boost = np.floor(setup.escalation_max_boost * (1 - left / start) + 0.5).astype(np.int64)
        raised = np.minimum(10, day.original_priority[rows] + boost)
        day.priority[rows] = np.maximum(day.priority[rows], raised)
    # Queue 1 holds each lane's rows in queue order, arrivals (and returns) last; the payment
    # pass groups them by lane itself, so only the priority ordering needs a sort here
    if setup.queue1_priority_deadline and day.q1.size:
        q1 = day.q1
        lanes = day.layout.sender_lane[q1]
        day.q1 = q1[np.lexsort((np.arange(q1.size), day.deadline[q1], -day.priority[q1], lanes))]


def payment_pass(day: BatchState, t: int) -> np.ndarray:
    """Decide every Queue-1 payment; returns the released rows in release order (by
    sender lane, then queue position: each sample's pending list in the reference)."""
    q1 = day.q1
    day.decisions += int(q1.size)
    if q1.size == 0:
        return q1
    key = day.layout.sender_lane_key
    if day.all_release:  # every payment is released and nothing limits it
        released: np.ndarray = q1[np.argsort(key[q1], kind="stable")]
        flag = day.agent_flag[day.sender[released]]
        has_flag = flag >= 0
        day.priority[released[has_flag]] = flag[has_flag]
        day.q1 = q1[:0]
        return released
    splits = SplitDecisions.empty(q1.size, day.staggers) if day.splits else None
    go, drop, flag = decide(day, q1, t, splits)
    flagged = flag >= 0  # a Release's flag applies even if the payment stays in Queue 1
    day.priority[q1[flagged]] = flag[flagged]
    if drop.any():
        day.status[q1[drop]] = DROPPED
        day.dropped = np.concatenate((day.dropped, q1[drop]))
    leaves = go if splits is None else go | (splits.parts >= 0)  # released or split
    stay = ~(leaves | drop)
    at = np.flatnonzero(leaves)
    at = at[np.argsort(key[q1[at]], kind="stable")]  # by lane, each in queue order
    released = q1[at]
    if day.has_bank_tree and day.budget_left.max() >= 0:
        fits = _budget_fits(day, released, None if splits is None else go[at])
        stay[at[~fits]] = True  # over budget: stays in Queue 1, in its place
        at, released = at[fits], released[fits]
    later = q1[:0]
    if splits is not None and not day.part_runs and (splits.parts >= 0).any():  # runs: split already
        released, later = split_rows(day, released, splits.at(at), t)
    day.q1 = np.concatenate((q1[stay], later)) if later.size else q1[stay]
    if later.size:  # each lane's staggered parts join the end of its Queue 1
        day.q1 = day.q1[np.argsort(day.layout.sender_lane[day.q1], kind="stable")]
    return released


def decide(
    day: BatchState,
    q1: np.ndarray,
    t: int,
    splits: SplitDecisions | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Payment-tree decisions for the rows ``q1``: release and drop masks and the priority
    flag of each row that reached a release leaf (-1 for none); applies Reprioritize and
    fills ``splits`` for the rows that reached a split leaf."""
    if day.constant_trees and day.fast:  # no tree to walk: one action per agent
        agent = day.sender[q1]
        return day.agent_release[agent], day.agent_drop[agent], day.agent_flag[agent]
    go = np.zeros(q1.size, dtype=bool)
    drop = np.zeros(q1.size, dtype=bool)
    flag = np.full(q1.size, -1, dtype=np.int64)
    for g, group in enumerate(day.groups):
        at: slice | np.ndarray = slice(None)
        if len(day.groups) > 1:
            at = np.flatnonzero(day.group_of[day.sender[q1]] == g)
        rows = q1[at]
        if rows.size == 0:
            continue
        leaf: np.ndarray = np.zeros(rows.size, dtype=np.int64)
        args: dict[str, np.ndarray] = {}
        if not group.constant or not day.fast:
            base = BaseQuantities(day, day.layout.sender_lane[rows], rows, t)
            dec = group.program.decide_many("payment_tree", base, rows.size)
            leaf, args = dec.leaf, dec.args
        release = group.release[leaf]
        flag[at] = np.where(release, group.flag[leaf], -1)
        if "timed_for_tick" in args:  # NaN (not on this row's leaf) compares False
            release &= ~(args["timed_for_tick"] > t)
        go[at], drop[at] = release, group.drop[leaf]
        if splits is not None:
            decide_splits(day, group, rows, leaf, args, splits, at, t)
        declared = group.rtgs[leaf]  # ResubmitToRtgs on a Queue-1 payment: declares, stays
        if (declared >= 0).any():
            day.rtgs_priority[rows[declared >= 0]] = declared[declared >= 0]
        repri = group.repri[leaf]
        if repri.any():
            day.priority[rows[repri]] = whole_args(
                args["new_priority"][repri], 10, "new_priority", group.program.name, floor=False
            )
    return go, drop, flag


def queue2_policy_pass(day: BatchState, t: int) -> None:
    """The payment tree over each bank's Queue-2 payments, for the policies that can act
    there (against a snapshot taken after the Queue-1 pass). ``WithdrawFromRtgs`` takes the
    payment back to the end of its bank's Queue 1; ``ResubmitToRtgs{rtgs_priority}`` does the
    same and declares its RTGS priority. Other actions do nothing there."""
    day.lane_cache = {}  # Queue 1 changed since the payment pass
    back = []
    for g, group in enumerate(day.groups):
        if not group.acts_on_queue2:
            continue
        rows = day.q2[day.group_of[day.sender[day.q2]] == g]
        if rows.size == 0:
            continue
        base = BaseQuantities(day, day.layout.sender_lane[rows], rows, t, in_queue2=True)
        leaf = group.program.decide_many("payment_tree", base, rows.size).leaf
        out = group.to_queue1[leaf]
        declared = group.rtgs[leaf]
        resubmit = out & (declared >= 0)
        day.rtgs_priority[rows[resubmit]] = declared[resubmit]
        back.append(rows[out])
    if not back:
        return
    leaving = np.concatenate(back)
    if leaving.size == 0:
        return
    day.status[leaving] = Q1
    day.submitted[leaving] = -1  # submitted again when released
    day.q2 = day.q2[day.status[day.q2] == Q2]
    # each lane's returns join the end of its Queue 1, in their Queue-2 order
    leaving = leaving[np.argsort(day.layout.sender_lane[leaving], kind="stable")]
    q1 = np.concatenate((day.q1, leaving))
    day.q1 = q1[np.argsort(day.layout.sender_lane[q1], kind="stable")]


def _budget_fits(day: BatchState, released: np.ndarray, budgeted: np.ndarray | None) -> np.ndarray:
    """Which released rows fit their release budget; only the ``budgeted`` ones (a
    ``Release``, not a split) are checked and consume it (as in SimCash)."""
    if budgeted is None:
        return _apply_budgets(day, released)
    fits = np.ones(released.size, dtype=bool)
    fits[budgeted] = _apply_budgets(day, released[budgeted])
    return fits


def _apply_budgets(day: BatchState, rows: np.ndarray) -> np.ndarray:
    """Which released rows (in release order) fit their bank's release budget."""
    keep = np.ones(rows.size, dtype=bool)
    lanes_of = day.layout.sender_lane
    limited = np.flatnonzero(day.budget_left[lanes_of[rows]] >= 0)
    for step in rank_steps(lanes_of[rows[limited]]):
        where = limited[step]
        e = rows[where]
        lane, need, to = lanes_of[e], day.remaining[e], day.receiver[e]
        per = day.budget_per_cpty[lane]
        used = day.budget_used[lane, to]
        ok = (need <= day.budget_left[lane]) & day.budget_focus[lane, to] & ((per < 0) | (used + need <= per))
        day.budget_left[lane[ok]] -= need[ok]
        day.budget_used[lane[ok], to[ok]] += need[ok]
        keep[where[~ok]] = False
    return keep


# ---------------------------------------------------------------------- base quantities
def lane_stat(day: BatchState, name: str) -> np.ndarray:
    """Per-lane base quantities for this tick, computed on first use."""
    if name in day.lane_cache:
        return day.lane_cache[name]
    n_samples, n_agents, size = day.n_samples, day.n_agents, day.n_lanes
    lanes_of = day.layout.sender_lane

    def count(rows: np.ndarray, parts: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(lanes_of[rows], parts, minlength=size).astype(np.float64)

    def value(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        return lane_sum(lanes_of[rows], values, size, day.exact).astype(np.float64)

    def per_sample(values: np.ndarray) -> np.ndarray:
        return np.repeat(values.reshape(n_samples, n_agents).sum(axis=1), n_agents)

    stats: dict[str, Any] = {}
    q1, q2 = day.q1, day.q2
    if name in ("q1_value", "q1_count"):
        stats = {"q1_value": value(q1, day.remaining[q1]), "q1_count": count(q1)}
    elif name in ("q2_count_agent", "q2_size", "q2_value", "q2_nearest_deadline"):
        n, v = count(q2, parts_in(day, q2)), value(q2, day.remaining[q2])  # a run: its parts left
        nearest = np.full(size, np.inf)
        np.minimum.at(nearest, lanes_of[q2], day.deadline[q2].astype(np.float64))
        stats = {
            "q2_count_agent": n,
            "q2_size": per_sample(n),
            "q2_value": per_sample(v),
            "q2_nearest_deadline": nearest,
        }
    elif name in ("arrived_value_today", "settled_value_today"):
        tpd, t = day.setup.ticks_per_day, day.current_tick
        today = np.concatenate(day.layout.by_arrival[t - t % tpd : t + 1])
        done = today[day.status[today] == SETTLED]
        settled = day.amount[done]
        if day.has_runs:  # runs count their parts settled so far
            done, settled = today, day.amount[today] - day.remaining[today]
        elif day.n_rows > day.n_payments:  # split parts count as they settle
            kids = np.arange(day.n_payments, day.n_rows)
            kids = kids[(day.status[kids] == SETTLED) & (day.arrival[kids] >= t - t % tpd)]
            done = np.concatenate((done, kids))
            settled = day.amount[done]
        stats = {
            "arrived_value_today": value(today, day.amount[today]),
            "settled_value_today": value(done, settled),
        }
    day.lane_cache.update(stats)
    return day.lane_cache[name]


class BaseQuantities:
    """Base quantities for a batch of decisions (bank lanes, and payment rows if any)."""

    def __init__(
        self, day: BatchState, lanes: np.ndarray, rows: np.ndarray | None, t: int, in_queue2: bool = False
    ) -> None:
        self.day, self.lanes, self.rows, self.t = day, lanes, rows, t
        self.in_queue2 = in_queue2

    def __getitem__(self, name: str) -> Any:
        d, lanes, rows = self.day, self.lanes, self.rows
        rates = d.setup.rates
        if rows is not None:
            tx = {
                "amount": d.amount,
                "remaining": d.remaining,
                "arrival_tick": d.arrival,
                "deadline_tick": d.deadline,
                "priority": d.priority,
            }
            if name in tx:
                return tx[name][rows].astype(np.float64)
            if name == "is_split":  # children are the rows after the scenario's payments
                return (rows >= d.n_payments).astype(np.float64)
            if name == "in_queue2":  # submitted and waiting (SimCash: "has an RTGS priority")
                if not self.in_queue2:
                    return np.zeros(rows.size)
                return (d.submitted[rows] != UNSUBMITTED_PART).astype(np.float64)
            if name == "deadline_penalty_here":
                return rates.deadline_penalty.of(d.amount[rows]).astype(np.float64)
            if name == "eod_penalty_here":
                return rates.eod_penalty.of(d.remaining[rows]).astype(np.float64)
        raw = rates.raw
        simple = {
            "tick": float(self.t),
            "tpd": float(d.setup.ticks_per_day),
            "n_agents": float(d.n_agents),
            "eod_rush_threshold": d.setup.eod_rush_threshold,
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
            return lambda key: register(d, key)[lanes] if key.startswith(STATE_PREFIX) else 0.0
        if name == "max_collateral_capacity":  # 10 × the current cap where none is set
            return np.where(d.capacity_follows_cap[lanes], 10 * d.unsecured_cap[lanes], d.max_collateral[lanes]).astype(
                np.float64
            )
        account = {
            "balance": d.balance,
            "unsecured_cap": d.unsecured_cap,
            "posted_collateral": d.posted_collateral,
            "haircut": d.haircut,
        }
        if name in account:
            return account[name][lanes].astype(np.float64)
        return lane_stat(d, name)[lanes]
