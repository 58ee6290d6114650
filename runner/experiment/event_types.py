"""What each event of an experiment carries: one frozen dataclass per event type.

An event's payload is one of these records; `EVENT_PAYLOADS` names them (the name is the
event's ``type`` in ``events.jsonl`` and in the ``events`` table). They are written and read
through `runner.json_records` only, so a renamed field is a type error in every reader, and a
stored stream that does not match them is refused with the field named.

Money is integer cents (``int``) where it is one day's cost, and a float where it is a mean
over samples; statistics and rates are floats. Fields marked `OMIT_DEFAULT` are absent from
the JSON when unset: a decision that could not be run has no statistics, and streams written
before ``components``, ``confidence``, ``seeds`` or ``deltas`` existed lack them.

A payload with a field its record does not know (a stream from a newer paylab) is an error,
not ignored: reading it would drop data that writing it back could not restore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.experiment.status import StopReason
from runner.json_records import OMIT_DEFAULT
from runner.proposals import LLMInteraction, PolicyDoc

#: agent → parameter name → value (the ``parameters`` of each agent's policy)
AgentParameters = Mapping[str, Mapping[str, float]]


def _absent() -> Any:
    """A field absent from the JSON while unset (`OMIT_DEFAULT`, default None)."""
    return field(default=None, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class ExperimentStartPayload:
    """The run's identity and settings (iteration 0, first event of a fresh run)."""

    run_id: str
    experiment: str
    model: str
    mode: str  # the evaluation mode ("bootstrap", "deterministic", ...)
    world: str  # "sandbox" or "full"
    agents: tuple[str, ...]  # the optimised agents, in config order
    master_seed: int
    replicate: int
    max_iterations: int
    num_samples: int


@dataclass(frozen=True)
class IterationStartPayload:
    """An iteration begins (the event's ``iteration`` says which)."""


@dataclass(frozen=True)
class ContextDayPayload:
    """The full-scenario day(s) simulated with the current policies."""

    seed: int  # the first day's
    days: int
    costs: Mapping[str, int]  # optimised agent → the first day's cost, cents


@dataclass(frozen=True)
class EvaluationPayload:
    """One agent's current policy on this iteration's samples (cents per sample)."""

    agent: str
    mean: float
    n: int
    std: float
    settlement: float


@dataclass(frozen=True)
class ProposalPayload:
    """What the proposer returned for one agent (``proposal`` None: no valid policy)."""

    agent: str
    valid: bool
    attempts: int
    errors: tuple[str, ...]
    proposal: PolicyDoc | None
    policy: PolicyDoc  # the policy in force when the proposal was asked for


@dataclass(frozen=True)
class DecisionPayload:
    """The verdict on one agent's proposal.

    ``n == 0``: the proposal could not be run (``reason`` says why) and every statistic is
    None. Otherwise the statistics are over ``n`` paired samples: means in cents, deltas
    old − new per sample (int cents), the CI at ``confidence``.
    """

    agent: str
    accepted: bool
    reason: str
    n: int
    policy: PolicyDoc  # in force before the decision
    proposal: PolicyDoc
    old_mean: float | None = _absent()
    new_mean: float | None = _absent()
    mean_delta: float | None = _absent()
    std_delta: float | None = _absent()
    ci_low: float | None = _absent()
    ci_high: float | None = _absent()
    confidence: float | None = _absent()
    new_settlement: float | None = _absent()
    seeds: tuple[int | None, ...] | None = _absent()
    old_costs: tuple[int, ...] | None = _absent()
    new_costs: tuple[int, ...] | None = _absent()
    deltas: tuple[int, ...] | None = _absent()


@dataclass(frozen=True)
class ReferenceCostPayload:
    """The policies in force on the fixed reference samples: the end of an iteration.

    Costs are means over the ``n`` samples (cents, float); ``components`` splits them per
    cost component (absent from early streams).
    """

    costs: Mapping[str, float]
    total: float
    n: int
    settlement: Mapping[str, float]
    parameters: AgentParameters
    policies: Mapping[str, PolicyDoc]
    components: Mapping[str, Mapping[str, float]] | None = _absent()


@dataclass(frozen=True)
class ConvergedPayload:
    """The convergence rule stopped the run."""

    reason: str


@dataclass(frozen=True)
class ExperimentEndPayload:
    """The run's outcome (totals are reference-set means, cents)."""

    stop_reason: StopReason
    iterations: int
    converged: bool
    baseline_total: float
    final_total: float
    best_total: float
    final_parameters: AgentParameters
    llm_calls: int


EventPayload = (
    ExperimentStartPayload
    | IterationStartPayload
    | ContextDayPayload
    | EvaluationPayload
    | LLMInteraction
    | ProposalPayload
    | DecisionPayload
    | ReferenceCostPayload
    | ConvergedPayload
    | ExperimentEndPayload
)

#: event type → its payload record, in the order a run emits them
EVENT_PAYLOADS: Mapping[str, type[EventPayload]] = {
    "experiment_start": ExperimentStartPayload,
    "iteration_start": IterationStartPayload,
    "context_day": ContextDayPayload,
    "evaluation": EvaluationPayload,
    "llm_interaction": LLMInteraction,
    "proposal": ProposalPayload,
    "decision": DecisionPayload,
    "reference_cost": ReferenceCostPayload,
    "converged": ConvergedPayload,
    "experiment_end": ExperimentEndPayload,
}
EVENT_TYPES = tuple(EVENT_PAYLOADS)
_TYPE_OF: Mapping[type, str] = {cls: name for name, cls in EVENT_PAYLOADS.items()}


def type_name(cls: type[EventPayload]) -> str:
    """The event ``type`` whose payload is a ``cls`` (`TypeError` for any other class)."""
    try:
        return _TYPE_OF[cls]
    except KeyError:
        raise TypeError(f"not an event payload: {cls.__name__}") from None


def event_type(payload: EventPayload) -> str:
    """The ``type`` name of ``payload``'s event (`TypeError` for anything else)."""
    return type_name(type(payload))
