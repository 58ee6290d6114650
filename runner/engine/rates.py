"""Cost rates as scaled integers and the exact integer arithmetic that applies them.

Money never meets a float: each rate is converted once to an integer numerator over a fixed
power-of-ten denominator (the reference's scaling), and costs are computed as
``round_half_up(amount × numerator / denominator)`` exactly in int64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from runner.engine.rules import priority_band
from runner.scenario.costs import CostRates, FixedPenalty, RatePenalty
from runner.scenario.costs import Penalty as PenaltyConfig

COMPONENTS = (
    "liquidity_opportunity",
    "overdraft",
    "delay",
    "deadline_penalty",
    "eod_penalty",
    "collateral",
    "split_friction",
)
# The column of each cost component in a cost table's last axis.
COMPONENT = {name: i for i, name in enumerate(COMPONENTS)}

OVERDRAFT_DEN = 10**7  # overdraft_bps × 1000 / 10^7 = bps / 10^4
DELAY_DEN = 10**9  # (value × 1000-scaled multiplier) × rate × 10^6 / 10^9
BPS_DEN = 10**10  # bps × 10^6 / 10^10 = bps / 10^4
_SAFE = 2**62


def scaled(rate: float, factor: int) -> int:
    """``rate × factor`` rounded half away from zero (negative or NaN rates count as 0)."""
    if not math.isfinite(rate) or rate <= 0:
        return 0
    return math.floor(rate * factor + 0.5)


def mul_div(x: np.ndarray, num: int, den: int, *, half_up: bool) -> np.ndarray:
    """Exact ``x × num / den`` for non-negative int64 ``x``, rounded half up or floored."""
    x = np.asarray(x, dtype=np.int64)
    if num == 0:
        return np.zeros_like(x)
    g = math.gcd(num, den)
    num, den = num // g, den // g
    if 2 * den * num + den >= _SAFE:  # pathological precision: fall back to Python integers
        return np.array([mul_div_int(int(v), num, den, half_up=half_up) for v in x.ravel()], dtype=np.int64).reshape(
            x.shape
        )
    q, r = np.divmod(x, den)
    out: np.ndarray = q * num + ((2 * r * num + den) // (2 * den) if half_up else (r * num) // den)
    return out


def mul_div_int(x: int, num: int, den: int, *, half_up: bool) -> int:
    """Scalar twin of `mul_div` on Python integers (used by the reference engine)."""
    if half_up:
        return (2 * x * num + den) // (2 * den)
    return (x * num) // den


@dataclass(frozen=True)
class Penalty:
    """A penalty per payment: a fixed amount, or a rate in bps of the payment's value."""

    fixed: int = 0
    bps_num: int = 0  # floor(bps × 10^6); cost = floor(value × bps_num / 10^10)

    @classmethod
    def from_config(cls, raw: PenaltyConfig) -> Penalty:
        if isinstance(raw, RatePenalty):
            return cls(bps_num=math.floor(raw.bps_per_event * 10**6))
        if isinstance(raw, FixedPenalty):
            return cls(fixed=raw.amount)
        return cls(fixed=int(raw))

    def of(self, value: np.ndarray) -> np.ndarray:
        if self.bps_num:
            return mul_div(np.abs(value), self.bps_num, BPS_DEN, half_up=False)
        return np.full(np.shape(value), self.fixed, dtype=np.int64)

    def of_int(self, value: int) -> int:
        if self.bps_num:
            return mul_div_int(abs(value), self.bps_num, BPS_DEN, half_up=False)
        return self.fixed


@dataclass(frozen=True)
class ScaledRates:
    """The scenario's cost rates, scaled once for exact integer accrual."""

    overdraft: int
    delay: int
    collateral: int
    liquidity: int
    deadline_penalty: Penalty
    eod_penalty: Penalty
    split_friction: int
    overdue_mult: int  # × 1000
    prio_mult: tuple[int, int, int]  # × 1000 for bands low (0-3), normal (4-7), urgent (8-10)
    # the float rates, for policy fields
    raw: CostRates

    @classmethod
    def from_config(cls, rates: CostRates) -> ScaledRates:
        pm = rates.priority_delay_multipliers
        prio = (
            (1000, 1000, 1000)
            if pm is None
            else (
                scaled(pm.low_multiplier, 1000),
                scaled(pm.normal_multiplier, 1000),
                scaled(pm.urgent_multiplier, 1000),
            )
        )
        return cls(
            overdraft=scaled(rates.overdraft_bps_per_tick, 1000),
            delay=scaled(rates.delay_cost_per_tick_per_cent, 10**6),
            collateral=scaled(rates.collateral_cost_per_tick_bps, 10**6),
            liquidity=scaled(rates.liquidity_cost_per_tick_bps, 10**6),
            deadline_penalty=Penalty.from_config(rates.deadline_penalty),
            eod_penalty=Penalty.from_config(rates.eod),
            split_friction=rates.split_friction_cost,
            overdue_mult=scaled(rates.overdue_delay_multiplier, 1000),
            prio_mult=prio,
            raw=rates,
        )

    @cached_property
    def delay_lut(self) -> np.ndarray:
        """`delay_weight` as a table by ``priority × 2 + overdue`` over priorities 0..10."""
        return self.delay_weight(np.repeat(np.arange(11), 2), np.tile([False, True], 11))

    def delay_weight(self, priority: np.ndarray, overdue: np.ndarray) -> np.ndarray:
        """Per-payment delay multiplier × 1000 (overdue × priority band), as int64."""
        band: np.ndarray = priority_band(priority)
        prio = np.asarray(self.prio_mult, dtype=np.int64)[band]
        over = np.where(overdue, self.overdue_mult, 1000)
        out: np.ndarray = (over * prio) // 1000
        return out

    def delay_weight_int(self, priority: int, overdue: bool) -> int:
        band: int = priority_band(priority)
        over = self.overdue_mult if overdue else 1000
        return (over * self.prio_mult[band]) // 1000
