"""The optimisation loop (README, "One experiment"): iterations, convergence, evaluation, acceptance,
paired comparison, events and integer-cent costs — driven by a scripted fake proposer."""

from __future__ import annotations

import json

import numpy as np

from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.experiment.bootstrap import (
    BootstrapPolicyEvaluator,
    SampleFactory,
    TransactionHistory,
    compute_paired_deltas,
)
from runner.experiment.event_types import EVENT_TYPES
from runner.experiment.events import read_events
from runner.experiment.executor import InProcessExecutor
from runner.policy.validate import parse_valid_policy
from runner.proposals import LLMInteraction, PolicyGenerationResult, ProposalContext
from runner.seeds import bootstrap_seed
from tests.runner.experiment.support import (
    EXP1,
    EXP2,
    EXP3,
    SMALL_EXP2,
    RecordingSink,
    ScriptedProposer,
    config,
    fraction_of,
    fraction_policy,
    of_type,
    run,
)

# exp1 (deterministic): with BANK_B paying first, BANK_A's cost is 10 000 × its fraction;
# the 0.5/0.5 baseline costs 5 000 cents each.


def test_runs_until_max_iterations() -> None:
    # A proposer that always finds something new never lets the run converge.
    step = iter(np.linspace(0.45, 0.2, 20))
    proposer = ScriptedProposer(lambda ctx: fraction_policy(float(next(step))))
    sink = RecordingSink()
    cfg = config(EXP1, "convergence.max_iterations=3", "convergence.stability_window=1")
    _, result = run(cfg, proposer, sinks=[sink])

    assert result.iterations == 3
    assert result.stop_reason == "max_iterations"
    assert result.converged is False
    # every iteration proposes, for every agent, in order
    assert [(c.iteration, c.agent_id) for c in proposer.contexts] == [
        (1, "BANK_A"),
        (1, "BANK_B"),
        (2, "BANK_A"),
        (2, "BANK_B"),
        (3, "BANK_A"),
        (3, "BANK_B"),
    ]
    assert [e.iteration for e in of_type(sink.events, "iteration_start")] == [1, 2, 3]
    assert of_type(sink.events, "converged") == []
    end = of_type(sink.events, "experiment_end")[0].payload
    assert (end.stop_reason, end.iterations, end.converged) == ("max_iterations", 3, False)


def test_stops_on_convergence() -> None:
    # Re-proposing the current policy is a tie: rejected, nothing changes, cost is flat.
    proposer = ScriptedProposer(lambda ctx: dict(ctx.current_policy))
    sink = RecordingSink()
    cfg = config(EXP1, "convergence.max_iterations=10", "convergence.stability_window=2")
    _, result = run(cfg, proposer, sinks=[sink])

    assert result.stop_reason == "converged"
    assert result.converged is True
    assert result.iterations == 2  # baseline + 2 flat iterations fill the window
    conv = of_type(sink.events, "converged")
    assert [e.iteration for e in conv] == [2]
    assert "no change accepted for 2 iterations" in conv[0].payload.reason
    assert len(proposer.contexts) == 4  # stopped: iteration 3 never asked anything

    # The coordinate search on exp1 converges before its 25-iteration cap.
    _, castro = run(config(EXP1))
    assert castro.stop_reason == "converged" and castro.iterations < 25


def test_stops_on_parameter_stability_in_temporal_mode() -> None:
    # deterministic-temporal adopts every valid proposal (even a worse one) and stops when
    # the parameters stay put for the window.
    proposer = ScriptedProposer.fractions({"BANK_A": [0.9], "BANK_B": [0.3]})
    sink = RecordingSink()
    cfg = config(
        EXP1,
        "evaluation.mode=deterministic-temporal",
        "convergence.stability_window=2",
        "convergence.max_iterations=10",
    )
    _, result = run(cfg, proposer, sinks=[sink])

    first = of_type(sink.events, "decision", "BANK_A")[0].payload
    assert first.accepted is True and first.mean_delta == -4000  # worse, still adopted
    assert fraction_of(result.final_policies["BANK_A"]) == 0.9
    assert result.stop_reason == "converged" and result.iterations == 3
    assert "parameters unchanged for 2 iterations" in of_type(sink.events, "converged")[0].payload.reason


def test_evaluates_policies_each_iteration() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.0, 0.3], "BANK_B": [0.2, 0.2]})
    sink = RecordingSink()
    _, result = run(config(EXP1, "convergence.max_iterations=3"), proposer, sinks=[sink])

    # the current policy of each agent is evaluated in every iteration
    evals = of_type(sink.events, "evaluation")
    assert [(e.iteration, e.payload.agent) for e in evals] == [
        (it, a) for it in (1, 2, 3) for a in ("BANK_A", "BANK_B")
    ]
    a_means = [e.payload.mean for e in evals if e.payload.agent == "BANK_A"]
    assert a_means == [5000.0, 0.0, 0.0]  # 0.5, then the accepted 0.0 (0.3 was rejected)
    # the proposer is shown that same evaluation
    assert [c.mean_cost for c in proposer.contexts_of("BANK_A")] == a_means

    # and the current policies are scored on the reference set after each iteration
    refs = of_type(sink.events, "reference_cost")
    assert [e.iteration for e in refs] == [0, 1, 2, 3]
    assert refs[0].payload.costs == {"BANK_A": 5000.0, "BANK_B": 5000.0}
    assert refs[1].payload.costs == {"BANK_A": 0.0, "BANK_B": 2000.0}
    assert refs[1].payload.parameters["BANK_A"] == {"initial_liquidity_fraction": 0.0}
    assert result.baseline_total == 10000.0 and result.final_total == 2000.0


def test_optimizes_each_agent() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.0], "BANK_B": [0.2]})
    _, result = run(config(EXP1, "convergence.max_iterations=2"), proposer)
    # each agent is asked, with its own policy, and each one's accepted policy is kept
    assert {c.agent_id for c in proposer.contexts} == {"BANK_A", "BANK_B"}
    assert all(fraction_of(c.current_policy) == 0.5 for c in proposer.contexts if c.iteration == 1)
    assert fraction_of(result.final_policies["BANK_A"]) == 0.0
    assert fraction_of(result.final_policies["BANK_B"]) == 0.2
    assert result.agents["BANK_A"].final_cost == 0.0 and result.agents["BANK_B"].final_cost == 2000.0

    # optimized_agents sets the order within an iteration
    reverse = ScriptedProposer.fractions({})
    run(config(EXP1, "optimized_agents=[BANK_B, BANK_A]", "convergence.max_iterations=2"), reverse)
    assert [c.agent_id for c in reverse.contexts] == ["BANK_B", "BANK_A", "BANK_B", "BANK_A"]

    # an accepted policy is adopted at once: BANK_B, evaluated after BANK_A's change in the
    # same iteration, already pays for BANK_A's late payments (exp3, BANK_B at 0.2)
    sink = RecordingSink()
    cfg = config(
        EXP3,
        "evaluation.acceptance.rule=always",
        "convergence.max_iterations=1",
        "initial_policies.BANK_B.parameters.initial_liquidity_fraction=0.2",
        "initial_policies.BANK_B.payment_tree.type=action",
        "initial_policies.BANK_B.payment_tree.action=Release",
    )
    run(cfg, ScriptedProposer.fractions({"BANK_A": [0.1], "BANK_B": [0.2]}), sinks=[sink])
    day = of_type(sink.events, "context_day")[0].payload.costs
    b_eval = of_type(sink.events, "evaluation", "BANK_B")[0].payload.mean
    assert day["BANK_B"] == 1998  # the context day still had BANK_A at 0.5
    assert b_eval > day["BANK_B"]  # BANK_B's samples saw BANK_A's new 0.1


def test_accepts_improved_policies() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.0]})
    sink = RecordingSink()
    _, result = run(config(EXP1, "convergence.max_iterations=2"), proposer, sinks=[sink])

    d = of_type(sink.events, "decision", "BANK_A")[0].payload
    assert d.accepted is True
    assert (d.old_mean, d.new_mean, d.mean_delta) == (5000.0, 0.0, 5000.0)
    assert d.reason == "mean delta +5000.0 > 0"
    # the new policy is in force from then on
    assert fraction_of(proposer.contexts_of("BANK_A")[1].current_policy) == 0.0
    assert fraction_of(result.final_policies["BANK_A"]) == 0.0
    rec = next(h for h in result.history if h["agent"] == "BANK_A" and h["iteration"] == 1)
    assert rec["accepted"] is True and fraction_of(rec["proposal"]) == 0.0
    assert fraction_of(rec["policy"]) == 0.5  # the policy in force when it was proposed
    assert result.agents["BANK_A"].accepted == 1


def test_rejects_worse_policies() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.9, 0.5]})
    sink = RecordingSink()
    _, result = run(config(EXP1, "convergence.max_iterations=2"), proposer, sinks=[sink])

    worse, tie = (e.payload for e in of_type(sink.events, "decision", "BANK_A"))
    assert worse.accepted is False
    assert (worse.old_mean, worse.new_mean, worse.mean_delta) == (5000.0, 9000.0, -4000.0)
    assert "<= 0" in worse.reason
    assert tie.accepted is False and tie.mean_delta == 0  # ties reject
    assert fraction_of(result.final_policies["BANK_A"]) == 0.5
    assert fraction_of(proposer.contexts_of("BANK_A")[1].current_policy) == 0.5
    assert result.agents["BANK_A"].rejected == 2 and result.agents["BANK_A"].accepted == 0
    assert [e.payload.costs["BANK_A"] for e in of_type(sink.events, "reference_cost")] == [5000.0] * 3


def test_uses_paired_comparison() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.2, 0.15], "BANK_B": [0.05, 0.04]})
    sink = RecordingSink()
    cfg = config(EXP2, *SMALL_EXP2)
    _, result = run(cfg, proposer, sinks=[sink])

    decisions = of_type(sink.events, "decision")
    assert len(decisions) == 4
    for e in decisions:
        p = e.payload
        agent = p.agent
        seeds = (bootstrap_seed(cfg.master_seed, 0, e.iteration, agent),) * 10
        assert p.seeds == seeds  # old and new policy scored on the agent's own samples
        old, new, deltas = (np.array(getattr(p, k), dtype=np.int64) for k in ("old_costs", "new_costs", "deltas"))
        assert old.size == new.size == deltas.size == p.n == 10
        assert list(deltas) == list(old - new)
        assert p.mean_delta == float(deltas.mean())
        assert p.old_mean == float(old.mean()) and p.new_mean == float(new.mean())
        # the old policy's costs are exactly the ones reported by the evaluation of the iteration
        ev = next(x for x in of_type(sink.events, "evaluation", agent) if x.iteration == e.iteration)
        assert ev.payload.mean == p.old_mean
    # the two agents draw different samples
    a1, b1 = (e.payload.seeds for e in decisions[:2])
    assert not set(a1) & set(b1)
    assert result.iterations == 2

    # BANK_B's cut to 0.05 is cheaper on some samples and ruinous on others: the deltas vary
    # and the CI of the deltas (rule ci) rejects it
    b = decisions[1].payload
    assert b.agent == "BANK_B" and len(set(b.new_costs)) > 1
    assert b.ci_low < 0 and b.accepted is False

    # compute_paired_deltas refuses evaluations on different samples
    scenario = cfg.load_scenario()
    factory = SampleFactory(scenario, 12, "sandbox")
    sched = generate_schedule(scenario.config, 1, 12)
    policies = {a: parse_valid_policy(fraction_policy(0.5)) for a in ("BANK_A", "BANK_B")}
    table, _ = ReferenceEngine(build_setup(scenario, policies)).run(sched)
    hist = [TransactionHistory(("BANK_A", "BANK_B"), sched, table.settle_ticks[0])]
    evaluator = BootstrapPolicyEvaluator(InProcessExecutor())
    setup = factory.setup("BANK_A", policies)
    one = evaluator.evaluate("BANK_A", setup, factory.samples(hist, "BANK_A", 1, 3))
    two = evaluator.evaluate("BANK_A", setup, factory.samples(hist, "BANK_A", 2, 3))
    try:
        compute_paired_deltas(one, two)
    except ValueError as exc:
        assert "same samples" in str(exc)
    else:
        raise AssertionError("paired deltas of different samples must be refused")
    assert list(compute_paired_deltas(one, one)) == [0, 0, 0]


def _interaction(ctx: ProposalContext, tokens: int, cost: float | None) -> LLMInteraction:
    return LLMInteraction(
        agent_id=ctx.agent_id,
        iteration=ctx.iteration,
        attempt=1,
        model="test/scripted",
        messages=({"role": "user", "content": "propose"},),
        raw_response="{}",
        reasoning=None,
        parsed_policy=None,
        validation_errors=(),
        error=None,
        prompt_tokens=tokens,
        completion_tokens=10,
        cost_usd=cost,
        latency_seconds=0.01,
    )


def test_records_events_to_state_provider(tmp_path) -> None:
    def script(ctx: ProposalContext) -> PolicyGenerationResult:
        cost = 0.5 if ctx.agent_id == "BANK_A" else None  # one provider without a price
        return PolicyGenerationResult(fraction_policy(0.2), 1, (_interaction(ctx, 100, cost),))

    sink = RecordingSink()
    runner, result = run(
        config(EXP1, "convergence.max_iterations=2"), ScriptedProposer(script), sinks=[sink], out_dir=tmp_path
    )
    events = sink.events
    assert events == runner.provider.events  # the live provider keeps what the sinks got
    assert [e.seq for e in events] == list(range(len(events)))
    assert {e.run_id for e in events} == {runner.run_id}
    assert {e.type for e in events} <= set(EVENT_TYPES)
    assert events[0].type == "experiment_start" and events[-1].type == "experiment_end"
    assert events[0].payload.agents == ("BANK_A", "BANK_B")

    per_agent = ["evaluation", "llm_interaction", "proposal", "decision"]
    expected = ["experiment_start", "reference_cost"]
    for _ in (1, 2):
        expected += ["iteration_start", "context_day", *per_agent, *per_agent, "reference_cost"]
    expected.append("experiment_end")
    assert [e.type for e in events] == expected

    # LLM interactions are recorded in full and summed in the result
    inter = of_type(events, "llm_interaction")
    assert inter[0].payload.agent_id == "BANK_A" and inter[0].payload.prompt_tokens == 100
    assert (result.llm.calls, result.llm.prompt_tokens, result.llm.completion_tokens) == (4, 400, 40)
    assert result.llm.cost_usd == 1.0

    # the run's JSONL file holds the same events, in order
    assert result.events_path is not None
    stored = read_events(tmp_path / runner.run_id / "events.jsonl")
    assert [e.to_dict() for e in stored] == [json.loads(json.dumps(e.to_dict())) for e in events]


def test_costs_are_integer_cents(tmp_path) -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.3], "BANK_B": [0.2]})
    sink = RecordingSink()
    cfg = config(EXP2, *SMALL_EXP2)
    runner, _ = run(cfg, proposer, sinks=[sink], out_dir=tmp_path)

    for e in of_type(sink.events, "context_day"):
        assert all(type(c) is int for c in e.payload.costs.values())
    for e in of_type(sink.events, "decision"):
        for key in ("old_costs", "new_costs", "deltas"):
            assert all(type(c) is int for c in getattr(e.payload, key)), key
        # means are floats only at the edge, and exact means of the integer costs
        assert e.payload.old_mean == sum(e.payload.old_costs) / len(e.payload.old_costs)
    # stored as JSON integers (no "12.0")
    raw = [json.loads(line) for line in (tmp_path / runner.run_id / "events.jsonl").read_text().splitlines()]
    dec = next(r for r in raw if r["type"] == "decision")
    assert all(isinstance(c, int) for c in dec["payload"]["old_costs"])

    # the evaluator and the paired deltas are int64 arrays
    scenario = cfg.load_scenario()
    policies = {a: parse_valid_policy(fraction_policy(0.5)) for a in ("BANK_A", "BANK_B")}
    day = generate_schedule(scenario.config, 3)
    table, _ = ReferenceEngine(build_setup(scenario, policies)).run(day)
    factory = SampleFactory(scenario, 12, "sandbox")
    samples = factory.samples([TransactionHistory(("BANK_A", "BANK_B"), day, table.settle_ticks[0])], "BANK_A", 11, 4)
    evaluator = BootstrapPolicyEvaluator(InProcessExecutor())
    old = evaluator.evaluate("BANK_A", factory.setup("BANK_A", policies), samples)
    new = evaluator.evaluate(
        "BANK_A", factory.setup("BANK_A", {**policies, "BANK_A": parse_valid_policy(fraction_policy(0.3))}), samples
    )
    assert old.costs.dtype == np.int64 and old.components.dtype == np.int64
    assert compute_paired_deltas(old, new).dtype == np.int64
    assert (old.components.sum(axis=1) == old.costs).all()  # components add up to the cent


def test_stop_check_stops_between_iterations() -> None:
    # A sweep's budget check runs before each iteration; the run reports the iterations it
    # completed, not the one it declined to start.
    checks: list[int] = []

    def budget() -> str | None:
        checks.append(1)
        return "budget" if len(checks) == 3 else None

    proposer = ScriptedProposer.fractions({"BANK_A": [0.4, 0.3, 0.2]})
    sink = RecordingSink()
    _, result = run(config(EXP1, "convergence.max_iterations=5"), proposer, sinks=[sink], stop_check=budget)
    assert result.stop_reason == "budget" and result.converged is False
    assert result.iterations == 2
    assert {c.iteration for c in proposer.contexts} == {1, 2}
    assert [e.iteration for e in of_type(sink.events, "reference_cost")] == [0, 1, 2]
    end = of_type(sink.events, "experiment_end")[0]
    assert end.payload.iterations == 2 and end.iteration == 2
    assert fraction_of(result.final_policies["BANK_A"]) == 0.3
