"""What a scenario charges: cost rates and penalties (``cost_rates``), in integer cents.

Also defines `Cents` and `NonNegCents`, the money types of every scenario model (the agents'
balances, caps and limits use them too). Separate from the agents and the arrivals because the
engine's cost code, proposals and the LLM prompts read the rates alone.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from runner.config_base import Strict

Cents = int
NonNegCents = Annotated[int, Field(ge=0)]


class FixedPenalty(Strict):
    mode: Literal["fixed"]
    amount: NonNegCents


class RatePenalty(Strict):
    mode: Literal["rate"]
    bps_per_event: float = Field(ge=0)


Penalty = NonNegCents | FixedPenalty | RatePenalty


class PriorityDelayMultipliers(Strict):
    """Delay-cost multipliers by priority band: urgent 8–10, normal 4–7, low 0–3."""

    urgent_multiplier: float = Field(default=1.0, ge=0)
    normal_multiplier: float = Field(default=1.0, ge=0)
    low_multiplier: float = Field(default=1.0, ge=0)


class CostRates(Strict):
    """Cost rates; money amounts are integer cents, rates are floats."""

    overdraft_bps_per_tick: float = Field(default=0.001, ge=0)
    delay_cost_per_tick_per_cent: float = Field(default=0.0001, ge=0)
    collateral_cost_per_tick_bps: float = Field(default=0.0002, ge=0)
    liquidity_cost_per_tick_bps: float = Field(default=0.0, ge=0)
    eod_penalty_per_transaction: Penalty | None = None
    eod_penalty: Penalty | None = None
    deadline_penalty: Penalty = 50_000
    split_friction_cost: NonNegCents = 1_000
    overdue_delay_multiplier: float = Field(default=5.0, ge=0)
    priority_delay_multipliers: PriorityDelayMultipliers | None = None

    @model_validator(mode="after")
    def _one_eod_spelling(self) -> CostRates:
        if self.eod_penalty is not None and self.eod_penalty_per_transaction is not None:
            raise ValueError(
                "eod_penalty_per_transaction: must not be given together with eod_penalty "
                "(two spellings of one key; keep one)"
            )
        return self

    @property
    def eod(self) -> Penalty:
        """The end-of-day penalty under either spelling (SimCash default 10 000 cents)."""
        if self.eod_penalty is not None:
            return self.eod_penalty
        if self.eod_penalty_per_transaction is not None:
            return self.eod_penalty_per_transaction
        return 10_000
