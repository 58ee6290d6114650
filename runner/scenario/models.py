"""Strict pydantic models of the scenario YAML (SimCash keys, read as they are).

Every model is frozen and forbids unknown keys. A validator's message starts with the dotted
path of the offending field relative to its model (``"max: must be >= min (5), got 2"``), so
`runner.config_errors` can name the exact field. Keys that SimCash knows but paylab does not
implement yet parse here and are rejected by `runner.scenario.support` with a
"not supported yet" error, so nothing is ever silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from runner.config_base import Strict
from runner.scenario.events import (
    CounterpartyWeightChange,
    ScenarioEvent,
    cap_adjustment_error,
)

Cents = int
NonNegCents = Annotated[int, Field(ge=0)]


# --------------------------------------------------------------------------- simulation


class SimulationSettings(Strict):
    ticks_per_day: int = Field(gt=0)
    num_days: int = Field(default=1, gt=0)
    rng_seed: int = Field(default=0, ge=0)
    # Legacy SimCash keys with no effect there either; parsed so they can be reported.
    lsm_enabled: bool | None = None
    lsm_frequency_ticks: int | None = None


# --------------------------------------------------------------------------- costs


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


# --------------------------------------------------------------------------- LSM


class LsmConfig(Strict):
    enable_bilateral: bool = True
    enable_cycles: bool = True
    max_cycle_length: int = Field(default=4, ge=3)
    max_cycles_per_tick: int = Field(default=10, ge=1)


class PriorityEscalation(Strict):
    """Deadline-driven priority boosts (reference §4.2 step 2a).

    SimCash's engine reads ``start_escalating_at_ticks``; its example files write
    ``threshold_ticks``, which that engine ignores. paylab reads either as the start (the
    files' evident intent; docs/engine.md), never both. ``curve`` is accepted: the engine's
    boost is linear whatever it says (a warning names it)."""

    enabled: bool = False
    curve: Literal["linear", "exponential", "step"] = "linear"
    start_escalating_at_ticks: int | None = Field(default=None, gt=0)
    threshold_ticks: int | None = Field(default=None, gt=0)
    max_boost: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _one_start(self) -> PriorityEscalation:
        if self.start_escalating_at_ticks is not None and self.threshold_ticks is not None:
            raise ValueError(
                "threshold_ticks: must not be given together with "
                "start_escalating_at_ticks (two spellings of one key; keep one)"
            )
        return self

    @property
    def start_ticks(self) -> int:
        """Escalation starts when this many ticks (or fewer) remain to the deadline."""
        return self.start_escalating_at_ticks or self.threshold_ticks or 20


# --------------------------------------------------------------------------- arrivals


class UniformAmount(Strict):
    type: Literal["Uniform"]
    min: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> UniformAmount:
        if self.max < self.min:
            raise ValueError(f"max: must be >= min ({self.min}), got {self.max}")
        return self


class NormalAmount(Strict):
    type: Literal["Normal"]
    mean: float = Field(gt=0)
    std_dev: float = Field(ge=0)


class LogNormalAmount(Strict):
    """Mean and standard deviation *of the amount* (not of its logarithm), as SimCash reads them."""

    type: Literal["LogNormal"]
    mean: float = Field(gt=0)
    std_dev: float = Field(ge=0)


class ExponentialAmount(Strict):
    """Exponential amounts with rate ``lambda`` per cent (mean amount = 1/lambda cents)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    type: Literal["Exponential"]
    lambda_: float = Field(alias="lambda", gt=0)


AmountDistribution = Annotated[
    UniformAmount | NormalAmount | LogNormalAmount | ExponentialAmount,
    Field(discriminator="type"),
]


class FixedPriority(Strict):
    type: Literal["Fixed"]
    value: int = Field(ge=0, le=10)


class CategoricalPriority(Strict):
    type: Literal["Categorical"]
    values: list[int] = Field(min_length=1)
    weights: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_length(self) -> CategoricalPriority:
        if len(self.values) != len(self.weights):
            raise ValueError(f"weights: must have one entry per value ({len(self.values)}), got {len(self.weights)}")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError(f"weights: must be >= 0 with a positive sum, got {self.weights}")
        if any(not 0 <= v <= 10 for v in self.values):
            raise ValueError(f"values: priorities must be within 0..10, got {self.values}")
        return self


class UniformPriority(Strict):
    type: Literal["Uniform"]
    min: int = Field(ge=0, le=10)
    max: int = Field(ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> UniformPriority:
        if self.max < self.min:
            raise ValueError(f"max: must be >= min ({self.min}), got {self.max}")
        return self


PriorityDistribution = Annotated[FixedPriority | CategoricalPriority | UniformPriority, Field(discriminator="type")]


class ArrivalConfig(Strict):
    rate_per_tick: float = Field(ge=0)
    amount_distribution: AmountDistribution
    counterparty_weights: dict[str, float] = Field(default_factory=dict)
    deadline_range: tuple[int, int] = (10, 50)
    priority: int | PriorityDistribution = 5
    # Accepted for compatibility; any payment can be split, as in SimCash.
    divisible: bool = False

    @field_validator("deadline_range", mode="before")
    @classmethod
    def _pair(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v  # YAML has lists, not tuples

    @field_validator("deadline_range")
    @classmethod
    def _range(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if not 0 < lo <= hi:
            raise ValueError(f"must satisfy 0 < min <= max, got [{lo}, {hi}]")
        return v

    @field_validator("counterparty_weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for name, w in v.items():
            if w < 0:
                raise ValueError(f"{name}: must be >= 0, got {w}")
        return v

    @field_validator("priority")
    @classmethod
    def _priority(cls, v: Any) -> Any:
        if isinstance(v, int) and not 0 <= v <= 10:
            raise ValueError(f"must be within 0..10, got {v}")
        return v


class ArrivalBand(Strict):
    """One priority band's stochastic arrivals (reference §3.3): priorities are drawn
    uniformly within the band (urgent 8–10, normal 4–7, low 0–3)."""

    rate_per_tick: float = Field(ge=0)
    amount_distribution: AmountDistribution
    deadline_offset_min: int = Field(gt=0)
    deadline_offset_max: int = Field(gt=0)
    counterparty_weights: dict[str, float] = Field(default_factory=dict)
    # Accepted for compatibility; any payment can be split, as in SimCash.
    divisible: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> ArrivalBand:
        if self.deadline_offset_max < self.deadline_offset_min:
            raise ValueError(
                f"deadline_offset_max: must be >= deadline_offset_min "
                f"({self.deadline_offset_min}), got {self.deadline_offset_max}"
            )
        for name, w in self.counterparty_weights.items():
            if w < 0:
                raise ValueError(f"counterparty_weights.{name}: must be >= 0, got {w}")
        return self

    @property
    def deadline_range(self) -> tuple[int, int]:
        return (self.deadline_offset_min, self.deadline_offset_max)


class ArrivalBands(Strict):
    """Per-band arrivals, drawn in the order urgent, normal, low."""

    urgent: ArrivalBand | None = None
    normal: ArrivalBand | None = None
    low: ArrivalBand | None = None

    def present(self) -> list[tuple[str, ArrivalBand]]:
        return [(name, band) for name in ("urgent", "normal", "low") if (band := getattr(self, name)) is not None]


# --------------------------------------------------------------------------- policies


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


# --------------------------------------------------------------------------- scenario


class ScenarioConfig(Strict):
    """A scenario file: agents, arrivals, events, cost rates and settlement rules."""

    simulation: SimulationSettings
    agents: list[AgentConfig] = Field(min_length=1)
    cost_rates: CostRates = CostRates()
    lsm_config: LsmConfig = LsmConfig()
    scenario_events: list[ScenarioEvent] = Field(default_factory=list)
    deferred_crediting: bool = False
    deadline_cap_at_eod: bool = False
    eod_penalty_scope: Literal["unsettled", "overdue"] = "unsettled"
    eod_rush_threshold: float = Field(default=0.8, ge=0, le=1)
    # T2-style features: parsed so the support check can name them.
    priority_escalation: PriorityEscalation | None = None
    algorithm_sequencing: bool = False
    entry_disposition_offsetting: bool = False
    queue1_ordering: Literal["fifo", "priority_deadline"] = "fifo"
    priority_mode: bool = False
    cost_model: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _references(self) -> ScenarioConfig:
        # Messages start with the dotted path of the offending field (see runner.config_errors).
        ids = [a.id for a in self.agents]
        for i, agent_id in enumerate(ids):
            if agent_id in ids[:i]:
                raise ValueError(
                    f"agents[{i}].id: must be unique, got '{agent_id}' again (also agents[{ids.index(agent_id)}].id)"
                )
        for i, agent in enumerate(self.agents):
            if agent.arrival_config is not None:
                self._check_counterparties(
                    i, agent.id, agent.arrival_config.counterparty_weights, f"agents[{i}].arrival_config", ids
                )
            for band_name, band in agent.arrival_bands.present() if agent.arrival_bands else ():
                self._check_counterparties(
                    i, agent.id, band.counterparty_weights, f"agents[{i}].arrival_bands.{band_name}", ids
                )
            self._check_limits(i, agent, ids)
        for i, event in enumerate(self.scenario_events):
            for attr in ("from_agent", "to_agent", "agent", "counterparty"):
                name = getattr(event, attr, None)
                if name is not None and name not in ids:
                    raise ValueError(f"scenario_events[{i}].{attr}: unknown agent '{name}' (agents: {', '.join(ids)})")
            if isinstance(event, CounterpartyWeightChange):
                self._check_weight_change(i, event)
            sender = getattr(event, "from_agent", None)
            if sender is not None and sender == getattr(event, "to_agent", None):
                raise ValueError(f"scenario_events[{i}].to_agent: must differ from from_agent, got '{sender}' for both")
        problem = cap_adjustment_error(
            self.scenario_events, self.episode_ticks, {a.id: a.unsecured_cap for a in self.agents}
        )
        if problem:
            raise ValueError(problem)
        return self

    def _check_weight_change(self, i: int, event: CounterpartyWeightChange) -> None:
        if event.counterparty == event.agent:
            raise ValueError(f"scenario_events[{i}].counterparty: an agent cannot pay itself ('{event.agent}')")
        if self.agent(event.agent).arrival_config is None:
            raise ValueError(
                f"scenario_events[{i}].agent: '{event.agent}' has no arrival_config, whose weights this event changes"
            )

    @staticmethod
    def _check_limits(i: int, agent: AgentConfig, ids: list[str]) -> None:
        per_cpty = agent.bilateral_limits
        where = f"agents[{i}].bilateral_limits"
        if per_cpty is None and agent.limits is not None:
            per_cpty, where = agent.limits.bilateral_limits, f"agents[{i}].limits.bilateral_limits"
        for name in per_cpty or {}:
            if name == agent.id:
                raise ValueError(f"{where}.{name}: an agent cannot limit payments to itself")
            if name not in ids:
                raise ValueError(
                    f"{where}.{name}: '{name}' is not an agent of this scenario (agents: {', '.join(ids)})"
                )

    @staticmethod
    def _check_counterparties(i: int, me: str, weights: dict[str, float], block: str, ids: list[str]) -> None:
        for name in weights:
            where = f"{block}.counterparty_weights.{name}"
            if name == me:
                raise ValueError(f"{where}: an agent cannot pay itself ('{name}')")
            if name not in ids:
                raise ValueError(f"{where}: '{name}' is not an agent of this scenario (agents: {', '.join(ids)})")
        if len(ids) < 2:
            raise ValueError(f"{block}: agent '{me}' has arrivals but there is no other agent to pay")

    @property
    def episode_ticks(self) -> int:
        return self.simulation.ticks_per_day * self.simulation.num_days

    def agent(self, agent_id: str) -> AgentConfig:
        for a in self.agents:
            if a.id == agent_id:
                return a
        raise KeyError(agent_id)
