"""The offline proposers: builtin/coordinate (stateless pattern search) and builtin/none."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace

import pytest

from runner.errors import ConfigError
from runner.experiment.proposers import CoordinateProposer, NoneProposer, make_proposer
from runner.llm.config import LLMConfig
from runner.policy.constraints import ParameterSpec, ScenarioConstraints
from runner.proposals import IterationRecord, PolicyGenerationResult, ProposalContext
from tests.runner.experiment.support import (
    EXP1,
    RecordingSink,
    ScriptedProposer,
    config,
    fraction_of,
    fraction_policy,
    of_type,
    run,
)


class Recording:
    """Wraps a proposer and keeps (context, result) pairs."""

    def __init__(self, inner: CoordinateProposer) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[tuple[ProposalContext, PolicyGenerationResult]] = []

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult:
        result = await self.inner.propose(context)
        self.calls.append((context, result))
        return result


def propose(proposer: CoordinateProposer | NoneProposer, ctx: ProposalContext) -> PolicyGenerationResult:
    return asyncio.run(proposer.propose(ctx))


@pytest.fixture(scope="module")
def context() -> ProposalContext:
    """A real first-iteration context of exp1's BANK_A (policy 0.5, empty history)."""
    proposer = ScriptedProposer(lambda c: None)
    run(config(EXP1, "convergence.max_iterations=1"), proposer)
    return proposer.contexts[0]


def record(policy: float, proposal: float, accepted: bool) -> IterationRecord:
    return IterationRecord(1, fraction_policy(policy), fraction_policy(proposal), accepted, "test")


def test_none_never_changes_the_policy() -> None:
    sink = RecordingSink()
    cfg = config(EXP1, "llm.model=builtin/none", "convergence.max_iterations=3")
    _, result = run(cfg, sinks=[sink])
    initial = cfg.initial_policy_doc("BANK_A")
    assert all(p == initial for p in result.final_policies.values())
    assert result.final_total == result.baseline_total == 10000.0
    assert of_type(sink.events, "decision") == []
    assert all(not e.payload.valid for e in of_type(sink.events, "proposal"))
    assert all(
        h["proposal"] is None and h["reason"] == "no valid proposal: builtin/none does not propose"
        for h in result.history
    )
    assert len(result.history) == 6
    assert all(
        e.payload.parameters == {a: {"initial_liquidity_fraction": 0.5} for a in ("BANK_A", "BANK_B")}
        for e in of_type(sink.events, "reference_cost")
    )


def test_none_proposer_returns_no_policy(context: ProposalContext) -> None:
    out = propose(NoneProposer(), context)
    assert out.policy is None and not out.ok and out.errors


def test_coordinate_first_steps(context: ProposalContext) -> None:
    coord = CoordinateProposer(config(EXP1).get_constraints())
    first = propose(coord, context)
    assert first.ok and fraction_of(first.policy) == 0.4  # 10 % of the range, downwards first
    # everything but the parameter is the current policy
    assert {k: v for k, v in first.policy.items() if k != "parameters"} == {
        k: v for k, v in context.current_policy.items() if k != "parameters"
    }
    # accepted → keep going the same way
    went_on = propose(coord, replace(context, current_policy=fraction_policy(0.4), history=(record(0.5, 0.4, True),)))
    assert fraction_of(went_on.policy) == pytest.approx(0.3)
    # rejected → try the other direction at the same step
    other = propose(coord, replace(context, history=(record(0.5, 0.4, False),)))
    assert fraction_of(other.policy) == pytest.approx(0.6)
    # both rejected → halve the step
    halved = propose(coord, replace(context, history=(record(0.5, 0.4, False), record(0.5, 0.6, False))))
    assert fraction_of(halved.policy) == pytest.approx(0.55)


def test_coordinate_respects_bounds_and_int_parameters(context: ProposalContext) -> None:
    spec = ParameterSpec(name="initial_liquidity_fraction", param_type="float", min_value=0.0, max_value=1.0)
    at_floor = replace(context, current_policy=fraction_policy(0.0))
    release = {"payment_tree": ["Release"]}
    up = propose(CoordinateProposer(ScenarioConstraints(allowed_parameters=[spec], allowed_actions=release)), at_floor)
    assert fraction_of(up.policy) == pytest.approx(0.1)  # cannot go below 0: goes up instead

    budget = ParameterSpec(name="budget", param_type="int", min_value=0, max_value=10)
    doc = copy.deepcopy(context.current_policy)
    doc["parameters"] = {"budget": 5}
    out = propose(
        CoordinateProposer(ScenarioConstraints(allowed_parameters=[budget], allowed_actions=release)),
        replace(context, current_policy=doc),
    )
    assert out.policy["parameters"] == {"budget": 4.0}

    nothing = propose(CoordinateProposer(ScenarioConstraints()), context)
    assert nothing.policy is None and "no bounded numeric parameter" in nothing.errors[0]


def test_coordinate_is_stateless_and_resume_safe() -> None:
    recording = Recording(CoordinateProposer(config(EXP1).get_constraints()))
    _, result = run(config(EXP1), recording)
    assert len(recording.calls) > 6
    for ctx, got in recording.calls:
        # a fresh proposer, given the same history, proposes the same thing…
        fresh = propose(CoordinateProposer(config(EXP1).get_constraints()), ctx)
        assert (fresh.policy, fresh.errors) == (got.policy, got.errors)
        # …and so does the same one asked again (no hidden state moved on)
        again = propose(recording.inner, ctx)
        assert again.policy == got.policy
    # the run reached the Castro exp1 equilibrium
    assert fraction_of(result.final_policies["BANK_A"]) <= 0.01
    assert 0.19 <= fraction_of(result.final_policies["BANK_B"]) <= 0.21


def test_make_proposer_picks_by_model() -> None:
    constraints = config(EXP1).get_constraints()
    assert isinstance(make_proposer(LLMConfig(model="builtin/coordinate"), constraints, None), CoordinateProposer)
    assert isinstance(make_proposer(LLMConfig(model="builtin/none"), constraints, None), NoneProposer)
    with pytest.raises(ConfigError) as err:
        make_proposer(LLMConfig(model="builtin/nope"), constraints, None)
    assert err.value.path == "llm.model" and "builtin/nope" in str(err.value)
