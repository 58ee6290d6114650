"""How an agent's payments arrive: amount and priority distributions, one stream per agent
(``arrival_config``) or one per priority band (``arrival_bands``).

The largest part of an agent's block, and the only one the engine samples from; separate so
the agent model reads in a few lines. Counterparty names are checked against the agents by
`runner.scenario.config.ScenarioConfig`, which knows them all.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from runner.config_base import Strict


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
