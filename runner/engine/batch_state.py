"""The batch engine's state: one explicit structure, built once per evaluation.

Everything the batch engine knows about a day of many samples lives in one `BatchState`:
payments of all samples end to end ("rows", each sample's in queue-entry order) and bank
accounts ``[sample × agent]`` ("lanes"). The tick steps are plain functions over it
(`runner.engine.batch`, `batch_policy`, `batch_settlement`, `batch_lsm`); none of them keeps
state of its own.

``fast`` switches the batch shortcuts (aggregate settlement steps, constant-tree tables, net
event flows, lane-sorted Queue 2) on or off. Off, every rule runs on its simple path — one
payment per sample per step, exactly the reference's order — so a new rule lands there
first, and the parity tests run both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import numpy as np

from runner.engine.batch_policy_groups import PolicyGroup, policy_groups
from runner.engine.batch_runs import runs_apply
from runner.engine.limits import NO_LIMIT
from runner.engine.rates import BPS_DEN, COMPONENT, COMPONENTS, mul_div
from runner.engine.rules import RTGS_NORMAL, Status, allowed_overdraft, collateral_capacity
from runner.engine.schedule import KIND_COLLATERAL_ADJUSTMENT, KIND_DIRECT_TRANSFER
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup

if TYPE_CHECKING:
    from runner.engine.batch_delay import Queue2Delay
    from runner.engine.batch_rows import PartRows

# Payment status as stored in int8 arrays (ordered: Q1..DROPPED are the unsettled ones).
FUTURE, Q1, Q2, DROPPED, SETTLED, SPLIT = (
    int(s) for s in (Status.FUTURE, Status.Q1, Status.Q2, Status.DROPPED, Status.SETTLED, Status.SPLIT)
)
FLOAT_EXACT = 2**53  # integers below this add exactly in float64

_EMPTY = np.zeros(0, dtype=np.int64)


def group_by_tick(ticks: np.ndarray, horizon: int) -> list[np.ndarray]:
    """Indices grouped by tick value, each group in index order (values ≥ horizon dropped)."""
    key = np.minimum(ticks, horizon)
    if horizon <= np.iinfo(np.int16).max:
        key = key.astype(np.int16)  # same order; numpy's stable sort is a radix sort on 16 bits
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(horizon + 1))
    return [order[bounds[t] : bounds[t + 1]] for t in range(horizon)]


@dataclass(frozen=True, eq=False)
class Layout:
    """What the engine derives from a batch's arrays alone — no policy, no account — for a
    number of agents and a horizon. Computed once per batch and reused: the two policies of a
    paired comparison, and the fixed reference set at every iteration, share their batch."""

    sample: np.ndarray  # per payment row: sample
    sender_lane: np.ndarray  # sample × n_agents + sender
    receiver_lane: np.ndarray
    sender_lane_key: np.ndarray  # sender lanes as a small integer type (fast stable sorts)
    by_arrival: list[np.ndarray]  # rows arriving at each tick
    by_deadline: list[np.ndarray]  # rows going overdue at each tick (deadline + 1)
    event_sample: np.ndarray  # per balance event: sample
    event_from: np.ndarray  # paying lane
    event_to: np.ndarray  # receiving lane
    event_amount: np.ndarray
    event_direct: np.ndarray  # a direct transfer
    event_cap_change: np.ndarray  # a CollateralAdjustment (moves the unsecured cap)
    events_by_tick: list[np.ndarray]
    cap_change_samples: list[np.ndarray]  # per tick: samples with a cap change
    # Per tick, each balance event as two flow entries over three lane blocks: [outflows |
    # direct inflows | scheduled inflows]; a tick's flows are then one sum
    # (`batch.scenario_events`). Cap changes move no money: they have no flow entries.
    flow_keys: list[np.ndarray]
    flow_amounts: list[np.ndarray]
    events_exact: bool  # per-lane sums of event amounts are exact in float64

    @classmethod
    def build(cls, batch: ScheduleBatch, n_agents: int, horizon: int) -> Layout:
        c, n_samples = batch.columns, len(batch)
        sample = np.repeat(np.arange(n_samples, dtype=np.int64), batch.payment_sizes)
        sender_lane = sample * n_agents + c["sender"]
        # numpy's stable sort is a radix sort on 16 bits
        key = sender_lane.astype(np.int16) if n_samples * n_agents < 2**15 else sender_lane
        event_sample = np.repeat(np.arange(n_samples, dtype=np.int64), batch.event_sizes)
        ev_from = event_sample * n_agents + c["event_from"]
        ev_to = event_sample * n_agents + c["event_to"]
        amount = c["event_amount"]
        direct = c["event_kind"] == KIND_DIRECT_TRANSFER
        cap_change = c["event_kind"] == KIND_COLLATERAL_ADJUSTMENT
        n_lanes = n_samples * n_agents
        by_tick = group_by_tick(c["event_tick"], horizon)
        flow_key = np.concatenate((ev_from, ev_to + np.where(direct, n_lanes, 2 * n_lanes)))
        flow_amount = np.concatenate((amount, amount))
        moves = [e[~cap_change[e]] for e in by_tick]
        both = [np.concatenate((e, e + amount.size)) if e.size else e for e in moves]
        return cls(
            sample=sample,
            sender_lane=sender_lane,
            receiver_lane=sample * n_agents + c["receiver"],
            sender_lane_key=key,
            by_arrival=group_by_tick(c["arrival"], horizon),
            by_deadline=group_by_tick(c["deadline"] + 1, horizon),
            event_sample=event_sample,
            event_from=ev_from,
            event_to=ev_to,
            event_amount=amount,
            event_direct=direct,
            event_cap_change=cap_change,
            events_by_tick=by_tick,
            cap_change_samples=[
                np.unique(event_sample[e[cap_change[e]]]) if cap_change.any() else _EMPTY for e in by_tick
            ],
            flow_keys=[flow_key[b] for b in both],
            flow_amounts=[flow_amount[b] for b in both],
            events_exact=amount.size == 0 or int(np.abs(amount).max()) * 2 * amount.size < FLOAT_EXACT,
        )


_LAYOUTS: WeakKeyDictionary[ScheduleBatch, dict[tuple[int, int], Layout]] = WeakKeyDictionary()


def layout_of(batch: ScheduleBatch, n_agents: int, horizon: int) -> Layout:
    """The batch's `Layout`, built on first use and kept as long as the batch lives."""
    per_batch = _LAYOUTS.setdefault(batch, {})
    key = (n_agents, horizon)
    if key not in per_batch:
        per_batch[key] = Layout.build(batch, n_agents, horizon)
    return per_batch[key]


@dataclass(eq=False)
class BatchState:
    """The whole state of a batch evaluation (see the module doc). Arrays over payment rows
    are indexed by row; arrays over lanes by ``sample × n_agents + agent``."""

    setup: EngineSetup
    layout: Layout
    n_samples: int
    n_agents: int
    fast: bool  # the batch shortcuts on (see the module doc)
    # ---- payments (the schedule's columns are shared, never written; priority is a copy)
    payment_counts: np.ndarray  # per sample
    sender: np.ndarray
    receiver: np.ndarray
    amount: np.ndarray
    arrival: np.ndarray
    deadline: np.ndarray
    priority: np.ndarray
    original_priority: np.ndarray  # at arrival (escalation boosts from it)
    remaining: np.ndarray
    # declared RTGS priority (0 highly urgent, 1 urgent, 2 normal; ResubmitToRtgs) and tick of
    # the last release to RTGS (-1 before): allocated only with Queue-2 actions or priority_mode
    rtgs_priority: np.ndarray
    submitted: np.ndarray
    status: np.ndarray  # int8, FUTURE .. SETTLED
    settle_tick: np.ndarray  # -1 until settled
    root: np.ndarray  # the scenario payment (row) each row is, or was split from
    q1: np.ndarray  # rows in Queue 1: in row order, or (`q1_in_queue_order`) each lane's in queue order
    q2: np.ndarray  # rows in Queue 2: each sample's in queue order (by lane if lane-sorted)
    dropped: np.ndarray
    # ---- accounts, per lane
    balance: np.ndarray
    unsecured_cap: np.ndarray
    pool: np.ndarray
    allocation: np.ndarray  # brought in from the pool at each start of day
    allocated: np.ndarray  # in the account now (charged the opportunity cost)
    posted_collateral: np.ndarray
    haircut: np.ndarray
    max_collateral: np.ndarray
    capacity_follows_cap: np.ndarray  # bool: no max_collateral_capacity, so 10 × the cap
    overdraft_limit: np.ndarray  # collateral capacity + unsecured cap
    lane_agent: np.ndarray
    incoming: np.ndarray  # deferred credits of this tick
    # limits: outflows of the day so far, only when some limit is set (else empty)
    bilateral_limit: np.ndarray  # [lane, counterparty], NO_LIMIT where none
    multilateral_limit: np.ndarray  # [lane]
    outflow_to: np.ndarray  # [lane, counterparty]
    outflow_total: np.ndarray  # [lane]
    # ---- policies
    groups: list[PolicyGroup]
    group_of: np.ndarray  # agent → index in `groups`
    has_bank_tree: bool
    constant_trees: bool  # every payment tree is one action without computed arguments
    agent_release: np.ndarray  # then per agent: that action releases / drops, its flag
    agent_drop: np.ndarray
    agent_flag: np.ndarray
    all_release: bool  # constant trees that all release, and no bank tree (fast path only)
    budget_left: np.ndarray  # [lane], -1: no budget this tick (tables exist under a bank tree)
    budget_focus: np.ndarray  # [lane, counterparty]
    budget_per_cpty: np.ndarray  # [lane], -1: none
    budget_used: np.ndarray  # [lane, counterparty]
    # collateral timers (due tick, lane, amount), in the order they were set
    timer_due: np.ndarray = field(default_factory=lambda: _EMPTY)
    timer_lane: np.ndarray = field(default_factory=lambda: _EMPTY)
    timer_amount: np.ndarray = field(default_factory=lambda: _EMPTY)
    # what the policies can do, fixed for the evaluation (read every tick)
    queue2_actions: bool = False  # some payment tree can take payments out of Queue 2
    collateral_trees: bool = False  # some policy has a collateral tree: posted collateral moves
    # Queue 1 cannot stay in row order when it is sorted by priority or when payments come
    # back to it from Queue 2 or split parts join it (at its end): it then holds each lane's
    # rows in queue order (sorted by lane after a priority sort or a return)
    q1_in_queue_order: bool = False
    splits: bool = False  # some payment tree can split payments (parts join Queue 1's end)
    staggers: bool = False  # ... with a StaggerSplit (parts released later, boosted priority)
    registers: dict[str, np.ndarray] = field(default_factory=dict)
    lane_cache: dict[str, np.ndarray] = field(default_factory=dict)  # this tick's lane stats
    current_tick: int = 0
    decisions: int = 0
    # ---- costs
    costs: np.ndarray = field(default_factory=lambda: _EMPTY)  # [sample, day, agent, component]
    tick_costs: np.ndarray = field(default_factory=lambda: _EMPTY)  # [lane, component]
    priority_in_range: bool = True  # every priority in 0..10 (no clipping for the delay table)
    q2_delay: Queue2Delay | None = None  # Queue 2's delay weight, kept between ticks
    exact: bool = True  # every per-lane sum of amounts, weights or penalties stays below 2**53
    # ---- split parts (`runner.engine.batch_split`): growing row arrays, parts per payment
    part_rows: PartRows | None = None  # the row columns once a split added rows
    # rows in use: the scenario's payments, then the parts; the row arrays are longer once
    # parts were added (spare rows, never read: `runner.engine.batch_rows`)
    n_rows: int = 0
    n_payments: int = 0  # the scenario's payments (rows 0 … n-1); split parts come after
    parts_of: np.ndarray = field(default_factory=lambda: _EMPTY)
    # the largest term a row adds to a per-lane sum (`exact`), once a split happens: parts are
    # never larger than their scenario payment, so only the number of rows grows
    split_row_bound: int = -1
    # ---- split payments as runs of parts (`runner.engine.batch_runs`), when `part_runs`
    part_runs: bool = False  # a split keeps the payment's row, as a run of its parts
    has_runs: bool = False  # some payment was split: the run columns below exist
    part_count: np.ndarray = field(default_factory=lambda: _EMPTY)  # parts (1: not split)
    parts_left: np.ndarray = field(default_factory=lambda: _EMPTY)  # of an unsettled row: not settled yet
    part_next: np.ndarray = field(default_factory=lambda: _EMPTY)  # of an unsettled row: its next part's amount
    due_left: np.ndarray = field(default_factory=lambda: _EMPTY)  # the tick's due rows' parts_left at settlement
    # ---- derived once (read in every step)
    n_lanes: int = 0  # n_samples × n_agents
    deferred: bool = False  # deferred crediting
    # Queue 2 kept sorted by lane: with deferred crediting lanes are independent in a FIFO
    # pass, so the fast path settles each lane's run at once
    lane_sorted_q2: bool = False
    has_limits: bool = False  # some bilateral or multilateral limit is set

    def __post_init__(self) -> None:
        self.n_lanes = self.n_samples * self.n_agents
        self.deferred = self.setup.deferred_crediting
        self.lane_sorted_q2 = self.fast and self.deferred
        self.has_limits = self.outflow_total.size > 0
        self.n_rows = self.n_payments = self.amount.size

    def set_allocated(self, allocated: np.ndarray) -> None:
        self.allocated = allocated
        self.tick_costs[:, COMPONENT["liquidity_opportunity"]] = mul_div(
            allocated, self.setup.rates.liquidity, BPS_DEN, half_up=True
        )


def build_state(setup: EngineSetup, batch: ScheduleBatch, fast: bool) -> BatchState:
    """The state at the start of tick 0: payments loaded, accounts opened, day 0's pool in."""
    n_samples, n_agents = len(batch), setup.n_agents
    n_lanes = n_samples * n_agents
    lay = layout_of(batch, n_agents, setup.horizon)
    c = batch.columns
    n = c["amount"].size
    groups = policy_groups(setup)
    group_of = np.zeros(n_agents, dtype=np.int64)
    for g, group in enumerate(groups):
        group_of[group.agents] = g
    has_bank_tree = any(g.program.has_tree("bank_tree") for g in groups)
    constant = all(g.constant for g in groups)
    release = np.zeros(n_agents, dtype=bool)
    drop = np.zeros(n_agents, dtype=bool)
    flag = np.full(n_agents, -1, dtype=np.int64)
    if constant:  # each agent's payment tree is one action: per-agent tables
        for group in groups:
            release[group.agents] = group.release[0]
            drop[group.agents] = group.drop[0]
            flag[group.agents] = group.flag[0] if group.release[0] else -1
    # every per-agent account figure repeated over the samples, in one tile
    whole = np.tile(
        np.stack(
            [
                setup.opening,
                setup.unsecured_cap,
                setup.pool,
                setup.allocation,
                setup.posted_collateral,
                setup.max_collateral,
                np.arange(n_agents),
            ]
        ),
        n_samples,
    )
    balance, cap, pool, allocation, posted, max_collateral, lane_agent = (np.array(row) for row in whole)
    haircut = np.tile(setup.haircut, n_samples)
    follows = setup.capacity_follows_cap if setup.capacity_follows_cap is not None else np.zeros(n_agents, dtype=bool)
    capacity = collateral_capacity(posted, haircut)
    no_limit = np.full(n_agents, NO_LIMIT, dtype=np.int64)
    bilateral = setup.bilateral_limit if setup.bilateral_limit is not None else no_limit[None, :]
    multilateral = setup.multilateral_limit if setup.multilateral_limit is not None else no_limit
    limited = bool((bilateral != NO_LIMIT).any() or (multilateral != NO_LIMIT).any())
    n_limit_lanes = n_lanes if limited else 0
    n_budgets = n_lanes if has_bank_tree else 0  # release budgets exist only under a bank tree
    state = BatchState(
        setup=setup,
        layout=lay,
        n_samples=n_samples,
        n_agents=n_agents,
        fast=fast,
        payment_counts=batch.payment_sizes,
        sender=c["sender"],
        receiver=c["receiver"],
        amount=c["amount"],
        arrival=c["arrival"],
        deadline=c["deadline"],
        priority=c["priority"].copy(),
        original_priority=c["priority"],
        remaining=c["amount"].copy(),
        rtgs_priority=_EMPTY,
        submitted=_EMPTY,
        status=np.full(n, FUTURE, dtype=np.int8),
        settle_tick=np.full(n, -1, dtype=np.int64),
        root=np.arange(n, dtype=np.int64),
        q1=_EMPTY,
        q2=_EMPTY,
        dropped=_EMPTY,
        balance=balance,
        unsecured_cap=cap,
        pool=pool,
        allocation=allocation,
        allocated=allocation.copy(),
        posted_collateral=posted,
        haircut=haircut,
        max_collateral=max_collateral,
        capacity_follows_cap=np.tile(follows, n_samples),
        overdraft_limit=allowed_overdraft(cap, capacity),
        lane_agent=lane_agent,
        incoming=np.zeros(n_lanes, dtype=np.int64),
        bilateral_limit=np.tile(bilateral, (n_samples, 1)) if limited else _EMPTY,
        multilateral_limit=np.tile(multilateral, n_samples) if limited else _EMPTY,
        outflow_to=np.zeros((n_limit_lanes, n_agents), dtype=np.int64),
        outflow_total=np.zeros(n_limit_lanes, dtype=np.int64),
        groups=groups,
        group_of=group_of,
        has_bank_tree=has_bank_tree,
        constant_trees=constant,
        agent_release=release,
        agent_drop=drop,
        agent_flag=flag,
        all_release=fast and constant and bool(release.all()) and not has_bank_tree,
        budget_left=np.full(n_budgets, -1, dtype=np.int64),
        budget_focus=np.ones((n_budgets, n_agents), dtype=bool),
        budget_per_cpty=np.full(n_budgets, -1, dtype=np.int64),
        budget_used=np.zeros((n_budgets, n_agents), dtype=np.int64),
    )
    _prepare_policies(state)
    _prepare_costs(state)
    return state


def _prepare_policies(state: BatchState) -> None:
    """What the policies can do, fixed for the evaluation."""
    groups, setup, n = state.groups, state.setup, state.amount.size
    state.queue2_actions = any(g.acts_on_queue2 for g in groups)
    state.collateral_trees = any(
        g.program.has_tree(tree)
        for g in groups
        for tree in ("strategic_collateral_tree", "end_of_tick_collateral_tree")
    )
    state.splits = any(bool(g.split.any()) for g in groups)
    state.staggers = any(bool(g.stagger.any()) for g in groups)
    state.q1_in_queue_order = setup.queue1_priority_deadline or state.queue2_actions or state.splits
    state.part_runs = runs_apply(state)
    if state.queue2_actions or setup.priority_mode:  # read and written only then
        state.rtgs_priority = np.full(n, RTGS_NORMAL, dtype=np.int64)
        state.submitted = np.full(n, -1, dtype=np.int64)


def _prepare_costs(state: BatchState) -> None:
    setup, rates = state.setup, state.setup.rates
    state.costs = np.zeros((state.n_samples, setup.days_simulated, state.n_agents, len(COMPONENTS)), dtype=np.int64)
    # costs of the tick [lane, component]; liquidity and collateral change only with
    # allocations, so those columns are kept, the others rewritten each tick
    state.tick_costs = np.zeros((state.n_lanes, len(COMPONENTS)), dtype=np.int64)
    state.tick_costs[:, COMPONENT["collateral"]] = mul_div(
        state.posted_collateral, rates.collateral, BPS_DEN, half_up=True
    )
    state.set_allocated(state.allocation.copy())
    state.balance += state.allocated
    # priorities only ever change to values in 0..10: if they start there, no clipping
    n = state.amount.size
    state.priority_in_range = n == 0 or bool(state.priority.min() >= 0 and state.priority.max() <= 10)
    # Every per-lane sum (amounts, delay weights, penalties, delay ticks) is at most
    # n × the largest term; below 2**53 np.bincount's float64 sums are exact.
    top = int(np.abs(state.amount).max()) if n else 0
    largest = np.array([top])
    penalty = max(int(rates.deadline_penalty.of(largest)[0]), int(rates.eod_penalty.of(largest)[0]))
    terms = (top * int(rates.delay_lut.max()), setup.horizon, penalty)
    state.exact = max(terms) * n < FLOAT_EXACT
