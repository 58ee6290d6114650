"""One agent of a scenario (``agents[]``): its money, credit, limits, policy and arrivals.

An agent's own keys and the policy it runs; how its payments arrive lives in
`runner.scenario.arrivals`, and checks that need the other agents (counterparties, limits
naming them) live in `runner.scenario.config.ScenarioConfig`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from runner.config_base import Strict
from runner.scenario.arrivals import ArrivalBands, ArrivalConfig
from runner.scenario.costs import Cents, NonNegCents


class PolicyRef(Strict):
    """An agent's policy: a named built-in policy or a JSON file.

    ``params`` override the policy's ``parameters`` (named-policy keyword arguments such as
    ``urgency_threshold`` can also be given inline, as SimCash allows).
    """

    model_config = ConfigDict(frozen=True, extra="allow")
    type: Literal[
        "Fifo",
        "Deadline",
        "LiquidityAware",
        "LiquiditySplitting",
        "MockSplitting",
        "FromJson",
    ]
    json_path: str | None = None
    params: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _json_path(self) -> PolicyRef:
        if self.type == "FromJson" and not self.json_path:
            raise ValueError("json_path: required key is missing (type FromJson reads a file)")
        if self.type != "FromJson" and self.json_path:
            raise ValueError(f"json_path: only allowed with type FromJson, not {self.type}")
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{key}: policy argument must be a number, got {value!r}")
        return self

    def inline_params(self) -> dict[str, float]:
        """Named-policy arguments given next to ``type`` plus those under ``params``."""
        extra = {k: float(v) for k, v in (self.model_extra or {}).items()}
        return {**extra, **self.params}


# --------------------------------------------------------------------------- agents


class OutflowLimits(Strict):
    """The ``limits`` block of an agent: per-day outflow caps, cents."""

    bilateral_limits: dict[str, NonNegCents] | None = None
    multilateral_limit: NonNegCents | None = None


class AgentConfig(Strict):
    id: str = Field(min_length=1)
    opening_balance: Cents
    unsecured_cap: NonNegCents = 0
    policy: PolicyRef = PolicyRef(type="Fifo")
    arrival_config: ArrivalConfig | None = None
    arrival_bands: ArrivalBands | None = None
    posted_collateral: NonNegCents = 0
    collateral_haircut: float = Field(default=0.02, ge=0, le=1)
    max_collateral_capacity: NonNegCents | None = None
    bilateral_limits: dict[str, NonNegCents] | None = None
    multilateral_limit: NonNegCents | None = None
    limits: OutflowLimits | None = None
    liquidity_pool: NonNegCents | None = None
    liquidity_allocation_fraction: float | None = Field(default=None, ge=0, le=1)
    # Legacy per-agent cost keys from old SimCash examples (no effect there).
    overdraft_rate: float | None = None
    delay_cost_per_tick: float | None = None

    @model_validator(mode="after")
    def _one_limit_spelling(self) -> AgentConfig:
        if self.arrival_config is not None and self.arrival_bands is not None:
            raise ValueError(
                "arrival_bands: must not be given together with arrival_config (one way of drawing arrivals per agent)"
            )
        if self.limits is not None:
            for key in ("bilateral_limits", "multilateral_limit"):
                if getattr(self, key) is not None and getattr(self.limits, key) is not None:
                    raise ValueError(
                        f"limits.{key}: must not be given together with the "
                        f"agent's own {key} (two spellings of one key; keep one)"
                    )
        return self

    def outflow_limits(self) -> tuple[dict[str, int], int | None]:
        """(counterparty → per-day cap, total per-day cap or None) under either spelling."""
        block = self.limits or OutflowLimits()
        per_cpty = self.bilateral_limits or block.bilateral_limits or {}
        total = self.multilateral_limit if self.multilateral_limit is not None else block.multilateral_limit
        return dict(per_cpty), total
