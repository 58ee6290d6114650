"""Hypothesis strategies for the engine tests: random valid scenarios, policies and cases.

Everything drawn here is *valid input*: scenario dicts pass `runner.scenario.scenario_from_dict`
and policy documents pass `runner.policy.parse_valid_policy`. Sizes are kept small (2–5 banks,
at most 20 ticks, balances and amounts of a few thousand cents) so that both liquidity-rich and
liquidity-starved days occur, and so that the plain reference engine stays fast.

How drawing works: a Hypothesis draw costs a fraction of a millisecond here, and a policy tree
has hundreds of nodes, so drawing every node through Hypothesis made generation 20× slower
than the simulations under test. Instead, Hypothesis draws the *shape* of an example — number
of banks, ticks, days, the settlement switches, the number of events, the depth of each tree —
and a seed, and plain builders below (``build_*``, driven by `random.Random(seed)`) fill in the
details. Shrinking therefore still works where it matters: a failing example shrinks to fewer
banks, fewer ticks, shallower trees, switches off and seed 0; the failing documents are printed
in full in the falsifying example.

Profiles: tests size ``max_examples`` with `examples`; ``HYPOTHESIS_PROFILE=ci`` selects the
"ci" profile, which runs `CI_FACTOR` times more examples (and prints reproduction blobs).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from runner.engine.results import PAYMENT_ARRAYS, SUMMARY_ARRAYS, CostTable
from runner.engine.schedule import Schedule, generate_schedule
from runner.engine.setup import EngineSetup, build_setup
from runner.policy import named_policy, parse_valid_policy
from runner.policy.fields import BANK_FIELDS, TX_FIELDS
from runner.policy.tree import Policy
from runner.scenario import Scenario, scenario_from_dict
from tests.runner.engine.feature_strategies import (
    add_stream_events,
    build_limits,
    build_priorities,
    build_ring,
)

# ----------------------------------------------------------------------------- profiles

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
CI_FACTOR = 10
SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("ci", deadline=None, print_blob=True, suppress_health_check=SUPPRESS)
if PROFILE == "ci":
    settings.load_profile("ci")


def examples(n: int) -> int:
    """``max_examples`` for a test: ``n`` by default, `CI_FACTOR` × ``n`` under the ci profile."""
    return n * CI_FACTOR if PROFILE == "ci" else n


def engine_settings(n: int) -> settings:
    """Settings shared by the engine property tests (no deadline: the reference is slow-ish)."""
    return settings(max_examples=examples(n), deadline=None, suppress_health_check=SUPPRESS)


seeds = st.integers(0, 2**32 - 1)

# ----------------------------------------------------------------------------- scenarios

MAX_AGENTS = 5
AGENT_IDS = tuple(f"A{i}" for i in range(MAX_AGENTS))


def _pick(r: random.Random, *options: Any) -> Any:
    return r.choice(options)


def _rate(r: random.Random, specials: tuple[float, ...], hi: float) -> float:
    """A rate: a round special value half of the time, else uniform in [0, hi]."""
    return r.choice(specials) if r.random() < 0.5 else r.uniform(0, hi)


def build_penalty(r: random.Random) -> Any:
    """A penalty as an int, ``{mode: fixed, amount}`` or ``{mode: rate, bps_per_event}``."""
    kind = _pick(r, "int", "fixed", "rate")
    if kind == "int":
        return r.randint(0, 5_000)
    if kind == "fixed":
        return {"mode": "fixed", "amount": r.randint(0, 5_000)}
    return {"mode": "rate", "bps_per_event": _rate(r, (0, 1, 50, 4_000, 10_000), 20_000)}


def build_cost_rates(r: random.Random) -> dict[str, Any]:
    rates: dict[str, Any] = {
        "overdraft_bps_per_tick": _rate(r, (0, 0.001, 1, 20, 333.3), 500),
        "delay_cost_per_tick_per_cent": _rate(r, (0, 0.0001, 0.01, 0.2, 1.5), 2),
        "collateral_cost_per_tick_bps": _rate(r, (0, 0.0002, 5), 50),
        "liquidity_cost_per_tick_bps": _rate(r, (0, 5, 83, 150.25), 500),
        "split_friction_cost": r.randint(0, 1_000),
    }
    eod_key = _pick(r, None, "eod_penalty", "eod_penalty_per_transaction")
    if eod_key is not None:
        rates[eod_key] = build_penalty(r)
    if r.random() < 0.5:
        rates["deadline_penalty"] = build_penalty(r)
    if r.random() < 0.5:
        rates["overdue_delay_multiplier"] = _rate(r, (0, 0.5, 1, 1.5, 5), 10)
    if r.random() < 0.5:
        keys = [k for k in ("urgent_multiplier", "normal_multiplier", "low_multiplier") if r.random() < 0.6]
        rates["priority_delay_multipliers"] = {k: _rate(r, (0, 0.5, 1, 2), 10) for k in keys}
    return rates


def build_amounts(r: random.Random) -> dict[str, Any]:
    kind = _pick(r, "Uniform", "Normal", "LogNormal", "Exponential")
    if kind == "Uniform":
        lo = r.randint(1, 800)
        return {"type": "Uniform", "min": lo, "max": lo + r.randint(0, 2_000)}
    if kind == "Exponential":
        return {"type": "Exponential", "lambda": r.uniform(0.0004, 0.05)}
    mean = r.uniform(1, 2_000)
    if kind == "LogNormal":  # its largest draw grows as exp(13.71·σ): keep it within bounds.py's
        return {"type": kind, "mean": mean, "std_dev": _rate(r, (0,), min(1_500, mean))}
    return {"type": kind, "mean": mean, "std_dev": _rate(r, (0,), 1_500)}


def build_priority(r: random.Random) -> Any:
    kind = _pick(r, "int", "Fixed", "Categorical", "Uniform")
    if kind == "int":
        return r.randint(0, 10)
    if kind == "Fixed":
        return {"type": "Fixed", "value": r.randint(0, 10)}
    if kind == "Uniform":
        lo = r.randint(0, 10)
        return {"type": "Uniform", "min": lo, "max": r.randint(lo, 10)}
    values = [r.randint(0, 10) for _ in range(r.randint(1, 4))]
    weights = [_pick(r, 0.0, 0.1, 0.5, 1.0, 3.0) for _ in values]
    if sum(weights) <= 0:
        weights[0] = 1.0
    return {"type": "Categorical", "values": values, "weights": weights}


def build_arrivals(r: random.Random, me: str, ids: list[str]) -> dict[str, Any]:
    others = [i for i in ids if i != me]
    listed = r.sample(others, r.randint(0, len(others)))
    weights = {name: _pick(r, 0.0, 0.5, 1.0, 2.0, 5.0) for name in listed}
    if len(listed) == len(others) and sum(weights.values()) <= 0:
        weights[listed[0]] = 1.0  # unlisted banks weigh 1.0; keep the total positive
    lo = r.randint(1, 12)
    cfg: dict[str, Any] = {
        "rate_per_tick": _rate(r, (0.0, 0.3, 1.0, 2.0), 2.5),
        "amount_distribution": build_amounts(r),
        "counterparty_weights": weights,
        "deadline_range": [lo, lo + r.randint(0, 8)],
    }
    if r.random() < 0.6:
        cfg["priority"] = build_priority(r)
    return cfg


def build_agent(
    r: random.Random, me: str, ids: list[str], limits: bool = False, scarce: bool = False, collateral: bool = False
) -> dict[str, Any]:
    """An agent; ``scarce`` ones hold little liquidity, so Queue 2 fills and gridlocks form
    (what the LSM resolves)."""
    agent: dict[str, Any] = {
        "id": me,
        "opening_balance": _pick(r, 0, 1_000, r.randint(0, 3_000), r.randint(0, 3_000), r.randint(-500, 0)),
        "unsecured_cap": _pick(r, 0, r.randint(0, 2_000)),
    }
    if scarce:
        agent["opening_balance"] = _pick(r, 0, r.randint(0, 400), r.randint(-200, 0))
        agent["unsecured_cap"] = _pick(r, 0, r.randint(0, 300))
    elif r.random() < 0.5:
        agent["liquidity_pool"] = r.randint(0, 5_000)
    if r.random() < 0.5:
        agent["liquidity_allocation_fraction"] = _rate(r, (0.0, 0.2, 0.29, 0.5, 1.0), 1)
    if r.random() < 0.8:
        agent["arrival_config"] = build_arrivals(r, me, ids)
    if limits and r.random() < 0.7:
        agent.update(build_limits(r, me, ids))
    if collateral and r.random() < 0.7:  # posted at the start: credit at a haircut, and a cost
        agent["posted_collateral"] = _pick(r, 0, r.randint(1, 3_000), r.randint(1, 300))
        if r.random() < 0.7:
            agent["collateral_haircut"] = _pick(r, 0.0, 0.02, 0.1, 0.5, 1.0, r.random())
        if r.random() < 0.5:
            agent["max_collateral_capacity"] = r.randint(0, 6_000)
    return agent


def build_event(r: random.Random, ids: list[str], episode: int) -> dict[str, Any]:
    kind = _pick(
        r,
        "CustomTransactionArrival",
        "DirectTransfer",
        "ScheduledSettlement",
        "GlobalArrivalRateChange",
        "AgentArrivalRateChange",
    )
    if r.random() < 0.5:
        schedule: dict[str, Any] = {"type": "OneTime", "tick": r.randint(0, episode - 1)}
    else:  # an event outside the simulated horizon is an error (runner.scenario.bounds)
        schedule = {"type": "Repeating", "start_tick": r.randint(0, episode - 1), "interval": r.randint(1, episode + 1)}
    event: dict[str, Any] = {"type": kind, "schedule": schedule}
    if kind in ("CustomTransactionArrival", "DirectTransfer", "ScheduledSettlement"):
        frm, to = r.sample(ids, 2)
        event.update(from_agent=frm, to_agent=to, amount=r.randint(1, 3_000))
        if kind == "CustomTransactionArrival":
            if r.random() < 0.5:
                event["priority"] = r.randint(0, 10)
            if r.random() < 0.5:
                event["deadline"] = r.randint(1, 12)
    elif kind == "GlobalArrivalRateChange":  # relative to the base rates: never compounds
        event["multiplier"] = _pick(r, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
    else:  # compounds at every firing: keep repeating ones tame so arrivals stay few
        event["agent"] = r.choice(ids)
        tame = schedule["type"] == "Repeating"
        event["multiplier"] = r.choice((0.5, 0.8, 1.0, 1.1) if tame else (0.25, 0.5, 1.5, 2.0, 3.0))
    return event


def build_scenario(
    seed: int,
    n_agents: int,
    ticks_per_day: int,
    num_days: int,
    deferred: bool,
    cap_at_eod: bool,
    overdue_scope: bool,
    bilateral: bool,
    n_events: int,
    cycles: bool = False,
    limits: bool = False,
    scarce: bool = False,
    priorities: bool = False,
    streams: bool = False,
    collateral: bool = False,
) -> dict[str, Any]:
    """A random valid scenario mapping of the given shape (pass it to `scenario_from_dict`)."""
    r = random.Random(seed)
    ids = list(AGENT_IDS[:n_agents])
    raw: dict[str, Any] = {
        "simulation": {"ticks_per_day": ticks_per_day, "num_days": num_days, "rng_seed": r.randint(0, 2**31)},
        "deferred_crediting": deferred,
        "deadline_cap_at_eod": cap_at_eod,
        "eod_penalty_scope": "overdue" if overdue_scope else "unsettled",
        "cost_rates": build_cost_rates(r),
        "lsm_config": {
            "enable_bilateral": bilateral,
            "enable_cycles": cycles,
            "max_cycle_length": r.randint(3, 5),
            "max_cycles_per_tick": _pick(r, 1, 2, 3, 10),
        },
        "agents": [build_agent(r, me, ids, limits, scarce, collateral) for me in ids],
        "scenario_events": [build_event(r, ids, ticks_per_day * num_days) for _ in range(n_events)],
    }
    if scarce and n_agents >= 3:
        for _ in range(r.randint(0, 3)):
            raw["scenario_events"] += build_ring(r, ids, ticks_per_day * num_days)
    if priorities:
        raw.update(build_priorities(r))
    if streams:
        add_stream_events(r, raw, build_arrivals)
    if r.random() < 0.5:
        raw["eod_rush_threshold"] = _pick(r, 0.0, 0.5, 0.8, 1.0)
    return raw


def scenario_dicts(
    max_ticks_per_day: int = 10, max_days: int = 2, max_agents: int = MAX_AGENTS
) -> st.SearchStrategy[dict[str, Any]]:
    """Random valid scenario mappings (2–``max_agents`` banks, at most 5 events)."""
    return st.builds(
        build_scenario,
        seeds,
        n_agents=st.integers(2, max_agents),
        ticks_per_day=st.integers(1, max_ticks_per_day),
        num_days=st.integers(1, max_days),
        deferred=st.booleans(),
        cap_at_eod=st.booleans(),
        overdue_scope=st.booleans(),
        bilateral=st.booleans(),
        n_events=st.integers(0, 5),
        cycles=st.booleans(),
        limits=st.booleans(),
        scarce=st.booleans(),
        priorities=st.booleans(),
        streams=st.booleans(),
        collateral=st.booleans(),
    )


# ----------------------------------------------------------------------------- policies

# The fields the brief singles out are drawn half of the time; any other known field otherwise.
FAVOURITE_FIELDS = (
    "balance",
    "remaining_amount",
    "amount",
    "ticks_to_deadline",
    "priority",
    "queue1_total_value",
    "available_liquidity",
    "effective_liquidity",
    "system_tick_in_day",
    "day_progress_fraction",
    "is_eod_rush",
    "queue2_count_for_agent",
    "my_throughput_fraction_today",
    "bank_state_x",
)
STATE_KEYS = ("bank_state_x", "bank_state_y")
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
COMPUTE_OPS = ("+", "-", "*", "/", "max", "min", "ceil", "floor", "round", "abs", "clamp", "div0")
SPECIAL_LITERALS = (0, 0.5, 1.5, 2.5, -0.5, 0.25, 1e-10)
NONZERO_DIVISORS = (1, 2, 3, 0.5, -4, 7, 100, 2.5)


def _fields(tree: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tx_ok = tree == "payment_tree"
    favourites = tuple(f for f in FAVOURITE_FIELDS if tx_ok or f not in TX_FIELDS)
    everything = tuple(sorted(BANK_FIELDS | (TX_FIELDS if tx_ok else frozenset()))) + STATE_KEYS
    return favourites, everything


FIELD_CHOICES = {tree: _fields(tree) for tree in ("payment_tree", "bank_tree")}


class PolicyBuilder:
    """Builds one random policy document from ``random.Random(seed)``."""

    def __init__(self, seed: int, horizon: int, params: tuple[str, ...]) -> None:
        self.r = random.Random(seed)
        self.horizon = horizon
        self.params = params

    def literal(self) -> float | int:
        r = self.r
        return _pick(r, r.randint(-50, 3_000), r.randint(0, 10), r.choice(SPECIAL_LITERALS))

    def leaf(self, tree: str) -> dict[str, Any]:
        r = self.r
        kind = _pick(r, "field", "field", "value", "param")
        if kind == "param" and self.params:
            return {"param": r.choice(self.params)}
        if kind == "value":
            return {"value": self.literal()}
        favourites, everything = FIELD_CHOICES[tree]
        return {"field": r.choice(favourites if r.random() < 0.5 else everything)}

    def value(self, tree: str, depth: int = 2) -> dict[str, Any]:
        """A value ``{field|param|value|compute}`` with computes nested at most ``depth`` deep."""
        r = self.r
        if depth <= 0 or r.random() < 0.55:
            return self.leaf(tree)

        def sub() -> dict[str, Any]:
            return self.value(tree, depth - 1)

        op = r.choice(COMPUTE_OPS)
        if op in ("+", "-", "*"):
            c = {"op": op, "left": sub(), "right": sub()}
        elif op == "/":
            # a literal non-zero divisor mostly; sometimes a value that is not a literal 0 but
            # may be 0 at run time (a SimulationError both engines must raise alike)
            right = sub() if r.random() < 0.3 else {"value": r.choice(NONZERO_DIVISORS)}
            if "value" in right and abs(right["value"]) < 1e-12:
                right = {"value": r.choice(NONZERO_DIVISORS)}
            c = {"op": "/", "left": sub(), "right": right}
        elif op in ("max", "min"):
            c = {"op": op, "values": [sub() for _ in range(r.randint(1, 3))]}
        elif op == "clamp":
            c = {"op": "clamp", "value": sub(), "min": sub(), "max": sub()}
        elif op == "div0":
            c = {"op": "div0", "numerator": sub(), "denominator": sub(), "default": sub()}
        else:
            c = {"op": op, "value": sub()}
        return {"compute": c}

    def condition(self, tree: str, depth: int = 2) -> dict[str, Any]:
        r = self.r
        kind = "cmp" if depth <= 0 else _pick(r, "cmp", "cmp", "cmp", "andor", "not")
        if kind == "andor":
            return {
                "op": _pick(r, "and", "or"),
                "conditions": [self.condition(tree, depth - 1) for _ in range(r.randint(1, 3))],
            }
        if kind == "not":
            return {"op": "not", "condition": self.condition(tree, depth - 1)}
        return {"op": r.choice(COMPARISONS), "left": self.value(tree), "right": self.value(tree)}

    def payment_action(self) -> dict[str, Any]:
        r = self.r
        action = _pick(
            r,
            "Release",
            "Release",
            "ReleaseWithCredit",
            "Hold",
            "Drop",
            "Reprioritize",
            "WithdrawFromRtgs",
            "ResubmitToRtgs",
            "Split",
            "PaceAndRelease",
            "StaggerSplit",
        )
        node: dict[str, Any] = {"type": "action", "action": action}
        args: dict[str, Any] = {}
        if action in ("Release", "ReleaseWithCredit"):
            if r.random() < 0.4:
                args["priority_flag"] = _pick(r, "HIGH", "MEDIUM", "LOW")
            if r.random() < 0.25:
                args["timed_for_tick"] = _pick(
                    r,
                    {"value": r.randint(0, self.horizon)},
                    {"compute": {"op": "+", "left": {"field": "current_tick"}, "right": {"value": r.randint(-1, 3)}}},
                )
        elif action == "Reprioritize":
            args["new_priority"] = self.value("payment_tree")
        elif action == "ResubmitToRtgs" and r.random() < 0.8:
            args["rtgs_priority"] = {"value": _pick(r, "HighlyUrgent", "Urgent", "Normal", "Other")}
        elif action in ("Split", "PaceAndRelease", "StaggerSplit"):
            args["num_splits"] = _pick(
                r, {"value": r.randint(-1, 6)}, {"value": r.uniform(0, 5)}, self.value("payment_tree")
            )
            if action == "StaggerSplit":
                for key, hi in (("stagger_first_now", 5), ("stagger_gap_ticks", 3), ("priority_boost_children", 4)):
                    if r.random() < 0.7:
                        args[key] = _pick(r, {"value": r.randint(-1, hi)}, self.value("payment_tree"))
        elif action == "Hold" and r.random() < 0.5:
            args["reason"] = {"value": "Because"}
        if args:
            node["parameters"] = args
        return node

    def bank_action(self) -> dict[str, Any]:
        r = self.r
        action = _pick(r, "SetState", "AddState", "SetReleaseBudget", "NoAction")
        node: dict[str, Any] = {"type": "action", "action": action}
        if action in ("SetState", "AddState"):
            node["parameters"] = {"key": r.choice(STATE_KEYS), "value": self.value("bank_tree")}
        elif action == "SetReleaseBudget":
            args: dict[str, Any] = {
                "max_value_to_release": _pick(r, {"value": r.randint(0, 4_000)}, self.value("bank_tree"))
            }
            if r.random() < 0.5:
                args["focus_counterparties"] = r.sample(AGENT_IDS, r.randint(0, 3))
            if r.random() < 0.5:
                args["max_per_counterparty"] = _pick(r, {"value": r.randint(0, 3_000)}, self.value("bank_tree"))
            node["parameters"] = args
        return node

    def collateral_action(self) -> dict[str, Any]:
        r = self.r
        action = _pick(r, "PostCollateral", "PostCollateral", "WithdrawCollateral", "HoldCollateral")
        node: dict[str, Any] = {"type": "action", "action": action}
        if action != "HoldCollateral":
            args: dict[str, Any] = {"amount": _pick(r, {"value": r.randint(0, 3_000)}, self.value("bank_tree"))}
            if action == "PostCollateral" and r.random() < 0.5:
                args["auto_withdraw_after_ticks"] = {"value": r.randint(0, 4)}
            node["parameters"] = args
        return node

    def tree(self, tree: str, depth: int) -> dict[str, Any]:
        """A decision tree with at most ``depth`` levels of condition nodes."""
        fields = "payment_tree" if tree == "payment_tree" else "bank_tree"  # collateral: bank-level
        if depth <= 0 or self.r.random() < 0.2:
            if tree == "payment_tree":
                return self.payment_action()
            return self.bank_action() if tree == "bank_tree" else self.collateral_action()
        return {
            "type": "condition",
            "condition": self.condition(fields),
            "on_true": self.tree(tree, depth - 1),
            "on_false": self.tree(tree, depth - 1),
        }


def build_policy(
    seed: int,
    horizon: int,
    payment_depth: int,
    bank_depth: int | None,
    n_params: int,
    with_fraction: bool,
    collateral_trees: bool = False,
) -> dict[str, Any]:
    """A random valid policy document (payment tree of depth ≤ 3, optional bank tree)."""
    r = random.Random(seed)
    params: dict[str, float] = {}
    if with_fraction:
        params["initial_liquidity_fraction"] = _rate(r, (0.0, 0.2, 0.5, 1.0), 1)
    for name in r.sample(["threshold", "buffer", "urgency"], n_params):
        params[name] = _pick(r, r.randint(-5, 3_000), r.uniform(-10, 10))
    b = PolicyBuilder(r.randrange(2**32), horizon, tuple(sorted(params)))
    doc: dict[str, Any] = {"version": "1.0", "policy_id": f"random-{seed}"}
    if params or r.random() < 0.5:
        doc["parameters"] = params
    doc["payment_tree"] = b.tree("payment_tree", payment_depth)
    if bank_depth is not None:
        doc["bank_tree"] = b.tree("bank_tree", bank_depth)
    for tree in ("strategic_collateral_tree", "end_of_tick_collateral_tree"):
        if collateral_trees and r.random() < 0.6:
            doc[tree] = b.tree(tree, r.randint(0, 2))
    return doc


def policy_docs(horizon: int = 20) -> st.SearchStrategy[dict[str, Any]]:
    """Random valid policy documents."""
    return st.builds(
        build_policy,
        seeds,
        st.just(horizon),
        payment_depth=st.integers(0, 3),
        bank_depth=st.one_of(st.none(), st.integers(0, 2)),
        n_params=st.integers(0, 2),
        with_fraction=st.booleans(),
        collateral_trees=st.booleans(),
    )


def named_policy_docs() -> st.SearchStrategy[dict[str, Any]]:
    """The built-in named policies (Fifo, Deadline, LiquidityAware, the two splitting ones)
    with a drawn argument."""
    return st.one_of(
        st.just(named_policy("Fifo")),
        st.builds(
            lambda name, k: named_policy(name, {"urgency_threshold": k}),
            st.sampled_from(["Deadline", "LiquidityAware"]),
            st.integers(0, 6),
        ),
        st.builds(lambda k: named_policy("MockSplitting", {"num_splits": k}), st.integers(1, 4)),
        st.builds(
            lambda k, u: named_policy("LiquiditySplitting", {"max_splits": k, "urgency_ticks": u}),
            st.integers(2, 5),
            st.integers(0, 6),
        ),
    )


def any_policy_docs(horizon: int = 20) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly random documents, sometimes a built-in named policy."""
    return st.one_of(policy_docs(horizon), policy_docs(horizon), policy_docs(horizon), named_policy_docs())


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One drawn example: a scenario, its policies (possibly shared), seeds and a horizon.

    ``assignment[i]`` is the index in ``policies`` of agent i's policy (sorted ids); agents with
    the same index share one `Policy` object, which the batch engine decides as one group.
    """

    scenario: dict[str, Any]
    policies: list[dict[str, Any]]
    assignment: list[int]
    seeds: list[int]
    ticks: int | None = None
    _built: tuple[Scenario, EngineSetup, list[Schedule]] | None = field(default=None, repr=False)

    def build(self) -> tuple[Scenario, EngineSetup, list[Schedule]]:
        """(scenario, engine setup, one schedule per seed), built once."""
        if self._built is None:
            sc = scenario_from_dict(self.scenario)
            parsed: list[Policy] = [parse_valid_policy(doc) for doc in self.policies]
            ids = sc.agent_ids
            setup = build_setup(sc, {a: parsed[self.assignment[i]] for i, a in enumerate(ids)}, ticks=self.ticks)
            schedules = [generate_schedule(sc.config, seed, setup.horizon) for seed in self.seeds]
            self._built = (sc, setup, schedules)
        return self._built


@st.composite
def cases(
    draw: st.DrawFn,
    min_samples: int = 2,
    max_samples: int = 4,
    mid_day: bool = True,
    max_ticks_per_day: int = 10,
    max_days: int = 2,
) -> Case:
    """A scenario, 1..n policies assigned to its banks, several sample seeds, maybe a horizon."""
    raw = draw(scenario_dicts(max_ticks_per_day=max_ticks_per_day, max_days=max_days))
    n = len(raw["agents"])
    episode = raw["simulation"]["ticks_per_day"] * raw["simulation"]["num_days"]
    n_policies = draw(st.integers(1, n))
    policies = [draw(any_policy_docs(episode)) for _ in range(n_policies)]
    assignment = draw(st.lists(st.integers(0, n_policies - 1), min_size=n, max_size=n))
    samples = draw(st.lists(seeds, min_size=min_samples, max_size=max_samples))
    ticks = draw(st.one_of(st.none(), st.integers(1, episode))) if mid_day else None
    return Case(raw, policies, assignment, samples, ticks)


# ----------------------------------------------------------------------------- helpers

TABLE_ARRAYS = (*SUMMARY_ARRAYS, *PAYMENT_ARRAYS)


def settlement_label(arrived: int, settled: int) -> str:
    """How much of a drawn day settled, as a hypothesis `event` label."""
    if arrived == 0:
        return "no payment"
    return "all settled" if settled == arrived else "none settled" if settled == 0 else "some settled"


def assert_tables_equal(got: CostTable, want: CostTable, label: str = "", decisions: bool = True) -> None:
    """Array-for-array equality of two cost tables (and of their decision counts, a batch total
    that `CostTable.select` does not split, unless ``decisions`` is false)."""
    assert got.agent_ids == want.agent_ids, label
    for name in TABLE_ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == np.int64 and b.dtype == np.int64, f"{label} {name}: not int64"
        np.testing.assert_array_equal(a, b, err_msg=f"{label} {name} differs")
    assert not decisions or got.decisions == want.decisions, f"{label} decisions {got.decisions} != {want.decisions}"
