"""The settlement rules both engines and the policy fields share, written once.

Each rule is a plain function over numbers that works on Python ints (the reference engine),
numpy arrays (the batch engine: ``[sample × agent]`` lanes) and float arrays (the policy
fields) alike, so there is exactly one definition of:

* collateral capacity: ``floor(posted × max(0, 1 − haircut))`` (reference §2.3);
* the allowed overdraft: collateral capacity + unsecured cap;
* available liquidity: ``max(balance, 0) + max(0, allowed overdraft − credit used)``;
* the priority bands: low 0–3, normal 4–7, urgent 8–10;
* a payment's status, as an ordered integer enum (the batch engine stores it in int64 arrays);
* a numeric action argument as a whole number in range (`whole_arg`).
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Any

import numpy as np

from runner.errors import SimulationError

BAND_LOW, BAND_NORMAL, BAND_URGENT = 0, 1, 2
BAND_NAMES = ("low", "normal", "urgent")  # index = band
BAND_RANGES = ((0, 3), (4, 7), (8, 10))  # inclusive priority ranges, index = band


class Status(IntEnum):
    """Where a payment is; the integer values are what the batch engine stores."""

    FUTURE = 0  # not arrived yet
    Q1 = 1  # in its bank's internal queue
    Q2 = 2  # in the central RTGS queue
    DROPPED = 3  # dropped by the policy: in no queue, still unsettled on the books
    SETTLED = 4
    SPLIT = 5  # split into children: in no queue; settled when its last child is

    @property
    def unsettled(self) -> bool:
        """Arrived and not settled: accrues delay cost and penalties."""
        return Status.Q1 <= self <= Status.DROPPED  # Q1, Q2, DROPPED (the values in between)


def priority_band(priority: Any) -> Any:
    """Band of a priority (0–10): 0 low (0–3), 1 normal (4–7), 2 urgent (8–10)."""
    if isinstance(priority, int | np.integer):
        return BAND_URGENT if priority >= 8 else (BAND_NORMAL if priority >= 4 else BAND_LOW)
    return np.where(priority >= 8, BAND_URGENT, np.where(priority >= 4, BAND_NORMAL, BAND_LOW))


def collateral_capacity(posted: Any, haircut: Any) -> Any:
    """Credit that posted collateral secures: ``floor(posted × max(0, 1 − haircut))``.

    On Python ints it returns an int (the reference engine's exact state); on arrays, floats
    or int64 as given."""
    if isinstance(posted, int | np.integer) and not isinstance(haircut, np.ndarray):
        return math.floor(int(posted) * max(0.0, 1.0 - float(haircut)))
    out = np.floor(np.asarray(posted) * np.maximum(0.0, 1.0 - np.asarray(haircut, dtype=np.float64)))
    return out.astype(np.asarray(posted).dtype) if np.asarray(posted).dtype.kind == "i" else out


def allowed_overdraft(unsecured_cap: Any, capacity: Any) -> Any:
    """How far a balance may go below zero: unsecured cap + collateral capacity."""
    return unsecured_cap + capacity


def credit_used(balance: Any) -> Any:
    """Overdraft in use: ``max(0, −balance)``."""
    if isinstance(balance, int | np.integer):
        return max(0, -int(balance))
    return np.maximum(0, -balance)


def available_liquidity(balance: Any, overdraft_limit: Any) -> Any:
    """What a bank can pay now: ``max(balance, 0) + max(0, allowed overdraft − credit used)``."""
    if isinstance(balance, int | np.integer) and isinstance(overdraft_limit, int | np.integer):
        b, lim = int(balance), int(overdraft_limit)
        return max(b, 0) + max(0, lim - max(0, -b))
    return np.maximum(balance, 0) + np.maximum(0, overdraft_limit - np.maximum(0, -balance))


def within_overdraft(balance_after: Any, overdraft_limit: Any) -> Any:
    """Whether a balance may end at ``balance_after`` (the LSM's net-position test)."""
    return balance_after >= -overdraft_limit


# Actions and flags both engines read (docs/engine.md, "Policies")
PRIORITY_FLAGS = {"HIGH": 10, "MEDIUM": 5, "LOW": 1}  # Release{priority_flag}
RTGS_PRIORITIES = {"HighlyUrgent": 0, "Urgent": 1, "Normal": 2}  # declared RTGS priority
RTGS_NORMAL = RTGS_PRIORITIES["Normal"]  # every payment's until ResubmitToRtgs declares another
QUEUE2_ACTIONS = frozenset({"WithdrawFromRtgs", "ResubmitToRtgs"})  # act on Queue-2 payments
BUDGET_MAX = 2**62  # release budgets above this are unlimited in effect (and fit in int64)


def rtgs_priority(args: dict[str, Any]) -> int:
    """``rtgs_priority`` of ``ResubmitToRtgs``; a name other than the three is "Normal"."""
    return RTGS_PRIORITIES.get(str(args.get("rtgs_priority", "Normal")), RTGS_NORMAL)


# Payment splitting (docs/engine.md, "Payment splitting")
SPLIT_ACTIONS = frozenset({"Split", "PaceAndRelease", "StaggerSplit"})
MAX_SPLIT_PARTS = 100  # parts of one split; more would let a policy flood the queues
MAX_SPLIT_DESCENDANTS = 1000  # parts one scenario payment may end up in (splits of parts too)


def split_amounts(amount: int, parts: int) -> list[int]:
    """Children's amounts: ``floor(amount / parts)`` each, the last one the remainder."""
    each = amount // parts
    return [each] * (parts - 1) + [amount - each * (parts - 1)]


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
