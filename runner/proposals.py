"""The seam between the optimisation loop and whatever proposes policies (an LLM or not).

The loop builds one `ProposalContext` per agent and iteration — everything that agent may
see, and nothing about other agents — and awaits `PolicyProposer.propose`. Proposers return a
`PolicyGenerationResult`: a validated policy document or None, with every attempt recorded as
an `LLMInteraction` for audit and replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, overload, runtime_checkable

from runner.json_records import OMIT_DEFAULT, from_json, to_json
from runner.policy.constraints import ScenarioConstraints
from runner.policy.tree import TREES
from runner.scenario.costs import CostRates

PolicyDoc = dict[str, Any]


@dataclass(frozen=True)
class SampleStream:
    """One simulated day as the agent saw it: its own filtered event trace and its cost.

    ``label`` is "context day", "best sample" or "worst sample"; ``cost`` is this agent's
    total cost in that run (cents); ``events`` holds only events the agent may see.
    """

    label: str
    seed: int | None
    cost: int
    events: tuple[dict[str, Any], ...]


class LazyStreams(Sequence[SampleStream]):
    """Streams computed on first access: tracing samples costs engine time, and proposers
    that never read the streams (the builtin ones) should not pay for it."""

    def __init__(self, build: Callable[[], Sequence[SampleStream]]) -> None:
        self._build: Callable[[], Sequence[SampleStream]] | None = build
        self._items: tuple[SampleStream, ...] = ()

    def _get(self) -> tuple[SampleStream, ...]:
        if self._build is not None:
            self._items, self._build = tuple(self._build()), None
        return self._items

    @overload
    def __getitem__(self, index: int) -> SampleStream: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[SampleStream]: ...
    def __getitem__(self, index: int | slice) -> SampleStream | Sequence[SampleStream]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[SampleStream]:
        return iter(self._get())


@dataclass(frozen=True)
class IterationRecord:
    """One past proposal of this agent: what was proposed, whether it was kept, and why.

    Costs are mean cents per sample over the paired evaluation samples (floats only because
    they are means); ``mean_delta`` = old − new (positive means the proposal was cheaper).
    """

    iteration: int
    policy: PolicyDoc  # the policy in force when the proposal was made
    proposal: PolicyDoc | None  # None when no valid proposal came back
    accepted: bool
    reason: str
    old_mean_cost: float | None = None
    new_mean_cost: float | None = None
    mean_delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class SettlementFacts:
    """The settlement rules of issue #10 as one agent may know them: the scenario-wide
    switches, and only this agent's own limits and collateral (never another bank's)."""

    cycles: bool = False
    max_cycle_length: int = 0
    queue1_priority_deadline: bool = False
    priority_mode: bool = False
    escalation: tuple[int, int] | None = None  # (start ticks before the deadline, max boost)
    bilateral_limits: tuple[tuple[str, int], ...] = ()  # this agent's, counterparty -> cents
    multilateral_limit: int | None = None  # this agent's, cents per day
    posted_collateral: int = 0  # this agent's, cents
    collateral_haircut: float = 0.02
    max_collateral_capacity: int | None = None  # None: 10 x the unsecured cap
    unsecured_cap: int = 0


@dataclass(frozen=True)
class ParameterChange:
    """One parameter a proposal changes; None: the parameter is absent on that side."""

    name: str
    before: Any
    after: Any


@dataclass(frozen=True)
class PolicyChanges:
    """What a proposal changes in the policy in force (the prompt and the terminal word it
    differently; this is the one place that decides what changed).

    ``parameters``: in the old document's order, then the names the proposal adds;
    ``trees``: the decision trees that differ, in `runner.policy.tree.TREES` order.
    """

    parameters: tuple[ParameterChange, ...]
    trees: tuple[str, ...]

    @staticmethod
    def between(old: PolicyDoc | None, new: PolicyDoc) -> PolicyChanges:
        """Example:
        >>> PolicyChanges.between({"parameters": {"f": 0.5}}, {"parameters": {"f": 0.4}}).parameters
        (ParameterChange(name='f', before=0.5, after=0.4),)
        """
        old = old or {}
        before: dict[str, Any] = dict(old.get("parameters") or {})
        after: dict[str, Any] = dict(new.get("parameters") or {})
        names = [*before, *(k for k in after if k not in before)]
        return PolicyChanges(
            tuple(ParameterChange(k, before.get(k), after.get(k)) for k in names if before.get(k) != after.get(k)),
            tuple(tree for tree in TREES if old.get(tree) != new.get(tree)),
        )


@dataclass(frozen=True)
class ScenarioFacts:
    """What the system prompt may say about the scenario (rules and rates, no other agent)."""

    cost_rates: CostRates
    ticks_per_day: int
    num_days: int
    deferred_crediting: bool
    bilateral_offsetting: bool
    eod_penalty_scope: str
    liquidity_pool: int | None  # this agent's pool, cents
    settlement: SettlementFacts = field(default_factory=SettlementFacts)


@dataclass(frozen=True)
class ProposalContext:
    """Everything one agent is shown when asked for a better policy."""

    agent_id: str
    iteration: int
    current_policy: PolicyDoc
    mean_cost: float  # cents per sample, current policy, on this iteration's samples
    cost_std: float
    cost_breakdown: dict[str, float]  # mean cents per component (every component)
    settlement_rate: float
    num_samples: int
    streams: Sequence[SampleStream]  # context day, best sample, worst sample
    history: tuple[IterationRecord, ...]
    constraints: ScenarioConstraints
    scenario: ScenarioFacts
    customization: str | None = None


@dataclass(frozen=True)
class LLMInteraction:
    """One attempt at getting a policy: the full exchange and what became of it.

    Never holds an API key. ``cost_usd`` is None when the provider's price is unknown.
    """

    agent_id: str
    iteration: int
    attempt: int
    model: str
    messages: tuple[dict[str, str], ...]
    raw_response: str | None
    reasoning: str | None
    parsed_policy: PolicyDoc | None
    validation_errors: tuple[str, ...]
    error: str | None  # transport/provider error, if the call itself failed
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    latency_seconds: float
    # what cleaning the provider's answer changed (texts cut, usage dropped); absent from the
    # JSON when there is none, as in streams written before it existed
    notes: tuple[str, ...] = field(default=(), metadata=OMIT_DEFAULT)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LLMInteraction:
        """The interaction an `llm_interaction` event payload (`to_dict`) describes."""
        return from_json(cls, d)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_json(self)
        return out


@dataclass(frozen=True)
class LLMUsage:
    """Totals over LLM calls (a client's, or a whole run's).

    ``cost_usd`` sums the calls litellm could price (None when it priced none);
    ``unpriced_calls`` counts answered calls without a price, so a partial sum is visible.
    """

    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    unpriced_calls: int = 0

    def add(self, interaction: LLMInteraction) -> LLMUsage:
        """These totals with ``interaction`` counted."""
        answered = interaction.error is None
        cost = self.cost_usd
        if interaction.cost_usd is not None:
            cost = (cost or 0.0) + interaction.cost_usd
        return LLMUsage(
            calls=self.calls + 1,
            failed_calls=self.failed_calls + (0 if answered else 1),
            prompt_tokens=self.prompt_tokens + (interaction.prompt_tokens or 0),
            completion_tokens=self.completion_tokens + (interaction.completion_tokens or 0),
            cost_usd=cost,
            unpriced_calls=self.unpriced_calls + (1 if answered and interaction.cost_usd is None else 0),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "unpriced_calls": self.unpriced_calls,
        }


@dataclass(frozen=True)
class PolicyGenerationResult:
    """The outcome of one `propose` call."""

    policy: PolicyDoc | None
    attempts: int
    interactions: tuple[LLMInteraction, ...] = ()
    errors: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.policy is not None


@runtime_checkable
class PolicyProposer(Protocol):
    """Proposes a policy for one agent; implementations: LLM client, builtin proposers."""

    name: str

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult: ...
