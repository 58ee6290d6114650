"""What a run returns (`ExperimentResult`) and what it looks like mid-run (`ExperimentState`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from runner.proposals import LLMUsage


@dataclass(frozen=True)
class AgentOutcome:
    """One optimised agent's costs on the reference set (mean cents per sample)."""

    baseline_cost: float
    final_cost: float
    best_cost: float
    best_iteration: int
    final_settlement_rate: float
    accepted: int
    rejected: int


@dataclass(frozen=True)
class ExperimentResult:
    """The outcome of one experiment run (``paylab run --json`` prints `to_dict`)."""

    run_id: str
    experiment: str
    model: str
    replicate: int
    master_seed: int
    iterations: int
    converged: bool
    stop_reason: str  # a `StopReason` value
    agents: dict[str, AgentOutcome]
    baseline_total: float
    final_total: float
    best_total: float
    final_policies: dict[str, dict[str, Any]]
    history: list[dict[str, Any]]
    llm: LLMUsage
    duration_seconds: float
    events_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExperimentState:
    """A live snapshot of a run (``GenericExperimentRunner.get_current_state``)."""

    run_id: str
    experiment: str
    status: str  # pending | running | done | failed
    iteration: int
    max_iterations: int
    policies: dict[str, dict[str, Any]]
    reference_costs: dict[str, float] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0
    llm: LLMUsage = field(default_factory=LLMUsage)
    stop_reason: str | None = None
