"""The context fields a policy can read, defined once for both engines.

Each engine supplies a small set of *base quantities* (balance, queue totals, the payment's
amount…) through a `Base` lookup; every field below is a formula over them. The formulas use
numpy ufuncs, so the same definition evaluates one payment (reference engine, scalars) or all
queued payments of a tick at once (batch engine, arrays).

Scopes: ``tx`` fields exist only in the payment tree; ``bank`` fields everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from runner.engine import rules

STATE_PREFIX = "bank_state_"
NO_DEADLINE = float(2**64 - 1)  # queue2_nearest_deadline when the agent has nothing in Queue 2


class Base(Protocol):
    """Supplies base quantities by name (scalars or arrays)."""

    def __getitem__(self, name: str) -> Any: ...


@dataclass(frozen=True)
class FieldDef:
    name: str
    scope: Literal["tx", "bank"]
    doc: str
    formula: Callable[[Base], Any]


def _ratio_or(num: Any, den: Any, default: float) -> Any:
    den_arr = np.asarray(den, dtype=np.float64)
    safe = np.where(den_arr > 0, den_arr, 1.0)
    return np.where(den_arr > 0, np.asarray(num, dtype=np.float64) / safe, default)


def _credit_used(b: Base) -> Any:
    return rules.credit_used(b["balance"])


def _collateral_capacity(b: Base) -> Any:
    return rules.collateral_capacity(b["posted_collateral"], b["haircut"])


def _allowed_overdraft(b: Base) -> Any:
    return rules.allowed_overdraft(b["unsecured_cap"], _collateral_capacity(b))


def _available(b: Base) -> Any:
    return rules.available_liquidity(b["balance"], _allowed_overdraft(b))


def _tick_in_day(b: Base) -> Any:
    return b["tick"] % b["tpd"]


def _required_collateral(b: Base) -> Any:
    """ceil(credit beyond the cap / (1 − haircut)); 0 at a haircut of 1, where collateral
    secures nothing (SimCash; the auto-withdraw timers use the same rule)."""
    used = _credit_used(b)
    uncovered = np.maximum(0.0, used - np.minimum(b["unsecured_cap"], used))
    keep = 1.0 - np.asarray(b["haircut"], dtype=np.float64)
    return np.where(keep > 0, np.ceil(uncovered / np.where(keep > 0, keep, 1.0)), 0.0)


def _f(name: str, scope: Literal["tx", "bank"], doc: str, formula: Callable[[Base], Any]) -> FieldDef:
    return FieldDef(name, scope, doc, formula)


_FIELDS: list[FieldDef] = [
    # ---- the payment being decided
    _f("amount", "tx", "original amount of the payment, cents", lambda b: b["amount"]),
    _f("remaining_amount", "tx", "amount still to settle, cents", lambda b: b["remaining"]),
    _f("settled_amount", "tx", "amount already settled, cents", lambda b: b["amount"] - b["remaining"]),
    _f("arrival_tick", "tx", "tick the payment arrived", lambda b: b["arrival_tick"]),
    _f("deadline_tick", "tx", "deadline tick (after capping)", lambda b: b["deadline_tick"]),
    _f("priority", "tx", "priority 0..10", lambda b: b["priority"]),
    _f("is_split", "tx", "1 if the payment is a split child", lambda b: b["is_split"]),
    _f(
        "is_past_deadline",
        "tx",
        "1 if the current tick is after the deadline",
        lambda b: (b["tick"] > b["deadline_tick"]) * 1.0,
    ),
    _f(
        "is_overdue",
        "tx",
        "1 if the payment is overdue (same as is_past_deadline)",
        lambda b: (b["tick"] > b["deadline_tick"]) * 1.0,
    ),
    _f(
        "overdue_duration",
        "tx",
        "ticks since the payment went overdue",
        lambda b: np.maximum(0.0, b["tick"] - b["deadline_tick"] - 1.0),
    ),
    _f(
        "is_in_queue2",
        "tx",
        "1 if the payment was submitted and waits in the central queue (0 for a StaggerSplit part released at once)",
        lambda b: b["in_queue2"],
    ),
    _f(
        "ticks_to_deadline",
        "tx",
        "deadline minus current tick (negative when overdue)",
        lambda b: b["deadline_tick"] - b["tick"],
    ),
    _f("queue_age", "tx", "ticks since arrival", lambda b: b["tick"] - b["arrival_tick"]),
    _f("time_in_queue", "tx", "ticks since arrival (alias of queue_age)", lambda b: b["tick"] - b["arrival_tick"]),
    _f(
        "cost_delay_this_tx_one_tick",
        "tx",
        "delay cost of holding this payment one tick, cents",
        lambda b: b["remaining"] * b["delay_rate"],
    ),
    _f(
        "cost_overdraft_this_amount_one_tick",
        "tx",
        "overdraft cost of borrowing this amount for one tick, cents",
        lambda b: b["remaining"] * b["overdraft_bps"] / 10_000.0,
    ),
    _f(
        "cost_if_held_one_tick",
        "tx",
        "delay cost of holding one more tick (overdue multiplier included), cents",
        lambda b: (
            b["remaining"] * b["delay_rate"] * np.where(b["tick"] > b["deadline_tick"], b["overdue_multiplier"], 1.0)
        ),
    ),
    # ---- the bank's account
    _f("balance", "bank", "settlement-account balance, cents", lambda b: b["balance"]),
    _f("credit_limit", "bank", "unsecured intraday credit cap (alias)", lambda b: b["unsecured_cap"]),
    _f("unsecured_cap", "bank", "unsecured intraday credit cap, cents", lambda b: b["unsecured_cap"]),
    _f("credit_used", "bank", "overdraft in use, cents", _credit_used),
    _f("available_liquidity", "bank", "balance plus unused credit, cents", _available),
    _f("credit_headroom", "bank", "unsecured cap minus credit used", lambda b: b["unsecured_cap"] - _credit_used(b)),
    _f(
        "effective_liquidity",
        "bank",
        "balance plus credit headroom",
        lambda b: b["balance"] + b["unsecured_cap"] - _credit_used(b),
    ),
    _f("is_using_credit", "bank", "1 if the balance is negative", lambda b: (b["balance"] < 0) * 1.0),
    _f("liquidity_buffer", "bank", "reserved buffer (always 0)", lambda b: 0.0 * b["balance"]),
    _f("outgoing_queue_size", "bank", "payments in the bank's internal queue", lambda b: b["q1_count"]),
    _f("incoming_expected_count", "bank", "expected incoming payments (always 0)", lambda b: 0.0 * b["balance"]),
    _f(
        "liquidity_pressure",
        "bank",
        "1 - positive balance / (balance + cap + collateral)",
        lambda b: (
            1.0
            - _ratio_or(np.maximum(b["balance"], 0.0), b["balance"] + b["unsecured_cap"] + b["posted_collateral"], 0.0)
        ),
    ),
    _f("is_overdraft_capped", "bank", "1: overdraft is always capped", lambda b: 1.0 + 0.0 * b["balance"]),
    # ---- queues
    _f("queue1_total_value", "bank", "value waiting in the internal queue, cents", lambda b: b["q1_value"]),
    _f(
        "queue1_liquidity_gap",
        "bank",
        "internal-queue value not covered by available liquidity",
        lambda b: np.maximum(0.0, b["q1_value"] - _available(b)),
    ),
    _f("headroom", "bank", "available liquidity minus internal-queue value", lambda b: _available(b) - b["q1_value"]),
    _f("queue2_size", "bank", "payments in the central queue (all banks)", lambda b: b["q2_size"]),
    _f("rtgs_queue_size", "bank", "payments in the central queue (all banks)", lambda b: b["q2_size"]),
    _f("rtgs_queue_value", "bank", "value in the central queue (all banks), cents", lambda b: b["q2_value"]),
    _f("queue2_count_for_agent", "bank", "this bank's payments in the central queue", lambda b: b["q2_count_agent"]),
    _f(
        "queue2_nearest_deadline",
        "bank",
        "earliest deadline of this bank's central-queue payments",
        lambda b: np.where(np.isfinite(b["q2_nearest_deadline"]), b["q2_nearest_deadline"], NO_DEADLINE),
    ),
    _f(
        "ticks_to_nearest_queue2_deadline",
        "bank",
        "ticks to that deadline (inf if none)",
        lambda b: b["q2_nearest_deadline"] - b["tick"],
    ),
    # ---- collateral
    _f("posted_collateral", "bank", "collateral posted, cents", lambda b: b["posted_collateral"]),
    _f(
        "max_collateral_capacity",
        "bank",
        "collateral that can be posted, cents",
        lambda b: b["max_collateral_capacity"],
    ),
    _f(
        "remaining_collateral_capacity",
        "bank",
        "capacity left to post, cents",
        lambda b: b["max_collateral_capacity"] - b["posted_collateral"],
    ),
    _f(
        "collateral_utilization",
        "bank",
        "posted / capacity",
        lambda b: _ratio_or(b["posted_collateral"], b["max_collateral_capacity"], 0.0),
    ),
    _f("collateral_haircut", "bank", "haircut on posted collateral", lambda b: b["haircut"]),
    _f("allowed_overdraft_limit", "bank", "collateral capacity plus unsecured cap", _allowed_overdraft),
    _f(
        "overdraft_headroom",
        "bank",
        "allowed overdraft minus credit used",
        lambda b: _allowed_overdraft(b) - _credit_used(b),
    ),
    _f(
        "overdraft_utilization",
        "bank",
        "credit used / allowed overdraft",
        lambda b: _ratio_or(_credit_used(b), _allowed_overdraft(b), 0.0),
    ),
    _f(
        "required_collateral_for_usage",
        "bank",
        "collateral needed to cover credit beyond the cap",
        _required_collateral,
    ),
    _f(
        "excess_collateral",
        "bank",
        "posted collateral beyond what usage requires",
        lambda b: np.maximum(0.0, b["posted_collateral"] - _required_collateral(b)),
    ),
    # ---- cost rates
    _f("cost_overdraft_bps_per_tick", "bank", "overdraft rate, bps per tick", lambda b: b["overdraft_bps"]),
    _f("cost_delay_per_tick_per_cent", "bank", "delay cost per cent per tick", lambda b: b["delay_rate"]),
    _f("cost_collateral_bps_per_tick", "bank", "collateral rate, bps per tick", lambda b: b["collateral_bps"]),
    _f("cost_split_friction", "bank", "cost per extra split child, cents", lambda b: b["split_friction"]),
    _f(
        "cost_deadline_penalty",
        "bank",
        "deadline penalty for this payment (bank tree: of 0), cents",
        lambda b: b["deadline_penalty_here"],
    ),
    _f(
        "cost_eod_penalty",
        "bank",
        "end-of-day penalty for this payment (bank tree: of 0), cents",
        lambda b: b["eod_penalty_here"],
    ),
    # ---- time and system
    _f("current_tick", "bank", "current tick", lambda b: b["tick"]),
    _f("total_agents", "bank", "number of banks", lambda b: b["n_agents"]),
    _f("system_ticks_per_day", "bank", "ticks per day", lambda b: b["tpd"]),
    _f("system_current_day", "bank", "day index", lambda b: np.floor(b["tick"] / b["tpd"])),
    _f("system_tick_in_day", "bank", "tick within the day", _tick_in_day),
    _f("ticks_remaining_in_day", "bank", "ticks left after this one today", lambda b: b["tpd"] - _tick_in_day(b) - 1.0),
    _f("day_progress_fraction", "bank", "tick_in_day / ticks_per_day", lambda b: _tick_in_day(b) / b["tpd"]),
    _f(
        "is_eod_rush",
        "bank",
        "1 once day_progress_fraction >= eod_rush_threshold",
        lambda b: (_tick_in_day(b) / b["tpd"] >= b["eod_rush_threshold"]) * 1.0,
    ),
    _f(
        "system_queue2_pressure_index",
        "bank",
        "logistic pressure of the central queue",
        lambda b: np.where(b["q2_size"] > 0, 1.0 / (1.0 + np.exp(-2.0 * b["q2_size"] / (10.0 * b["n_agents"]))), 0.0),
    ),
    _f(
        "my_throughput_fraction_today",
        "bank",
        "value settled / value arrived today of this bank's outgoing payments (1 if none)",
        lambda b: _ratio_or(b["settled_value_today"], b["arrived_value_today"], 1.0),
    ),
    _f(
        "expected_throughput_fraction_by_now",
        "bank",
        "tick_in_day / ticks_per_day",
        lambda b: _tick_in_day(b) / b["tpd"],
    ),
    _f(
        "throughput_gap",
        "bank",
        "my throughput minus the expected throughput",
        lambda b: _ratio_or(b["settled_value_today"], b["arrived_value_today"], 1.0) - _tick_in_day(b) / b["tpd"],
    ),
]

FIELDS: dict[str, FieldDef] = {f.name: f for f in _FIELDS}
TX_FIELDS = frozenset(f.name for f in _FIELDS if f.scope == "tx")
BANK_FIELDS = frozenset(f.name for f in _FIELDS if f.scope == "bank")


def is_known_field(name: str, tree: str) -> bool:
    """Whether ``name`` can be read in ``tree`` (tx fields only in the payment tree)."""
    if name.startswith(STATE_PREFIX) and len(name) > len(STATE_PREFIX):
        return True
    if name in BANK_FIELDS:
        return True
    return name in TX_FIELDS and tree == "payment_tree"


def field_value(name: str, base: Base) -> Any:
    """Evaluate field ``name`` over ``base`` (registers read as 0 when never set)."""
    if name.startswith(STATE_PREFIX):
        return base["registers"](name)
    return FIELDS[name].formula(base)
