"""Rejected, invalid and unrunnable proposals: the old policy stays, the rejection and its
reason are recorded, and the agent (only that agent) is shown them next iteration."""

from __future__ import annotations

import io
from typing import Any

from runner.experiment.display import VerboseConfig, VerboseLogger
from runner.proposals import PolicyGenerationResult, ProposalContext
from tests.runner.experiment.support import (
    EXP1,
    EXP2,
    SMALL_EXP2,
    RecordingSink,
    ScriptedProposer,
    config,
    fraction_of,
    fraction_policy,
    of_type,
    run,
)


def _divide_by(field: str) -> dict[str, Any]:
    """Release everything, but decide it with balance / ``field`` (zero at tick 0 for the
    system tick: a runtime division by zero the validator cannot see)."""
    tree = {
        "type": "condition",
        "node_id": "c",
        "condition": {
            "op": ">",
            "left": {"compute": {"op": "/", "left": {"field": "balance"}, "right": {"field": field}}},
            "right": {"value": -1},
        },
        "on_true": {"type": "action", "node_id": "r", "action": "Release"},
        "on_false": {"type": "action", "node_id": "h", "action": "Hold"},
    }
    return {**fraction_policy(0.2), "payment_tree": tree}


# Splits payments (which runs), but computes the parts with a division by zero (ticks to
# deadline minus itself) that no validator can see.
_ZERO = {"compute": {"op": "-", "left": {"field": "ticks_to_deadline"}, "right": {"field": "ticks_to_deadline"}}}
SPLIT = {
    **fraction_policy(0.2),
    "payment_tree": {
        "type": "action",
        "node_id": "s",
        "action": "Split",
        "parameters": {"num_splits": {"compute": {"op": "/", "left": {"field": "balance"}, "right": _ZERO}}},
    },
}


def test_rejected_proposal_keeps_the_old_policy_and_is_recorded() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.2, 0.15], "BANK_B": [0.02, 0.2]})
    sink = RecordingSink()
    _, result = run(config(EXP2, *SMALL_EXP2), proposer, sinks=[sink])

    # BANK_B's cut to 0.02 leaves payments unpaid on some samples: the ci rule rejects it
    b1 = next(e.payload for e in of_type(sink.events, "decision", "BANK_B") if e.iteration == 1)
    assert b1.accepted is False and b1.ci_low <= 0
    assert b1.reason.startswith("95% CI lower bound") and b1.reason.endswith("<= 0")
    assert b1.deltas == tuple(o - n for o, n in zip(b1.old_costs, b1.new_costs, strict=True))
    assert fraction_of(b1.policy) == 0.5 and fraction_of(b1.proposal) == 0.02

    # the old policy stays in force
    b_ctx = proposer.contexts_of("BANK_B")
    assert fraction_of(b_ctx[1].current_policy) == 0.5

    # the result's history holds it with its reason and delta statistics
    rec = next(h for h in result.history if h["agent"] == "BANK_B" and h["iteration"] == 1)
    assert rec["accepted"] is False and rec["reason"] == b1.reason
    assert (rec["mean_delta"], rec["ci_low"], rec["ci_high"]) == (b1.mean_delta, b1.ci_low, b1.ci_high)
    assert (rec["old_mean_cost"], rec["new_mean_cost"]) == (b1.old_mean, b1.new_mean)

    # next iteration, BANK_B is shown its rejected proposal and why
    (past,) = b_ctx[1].history
    assert past.iteration == 1 and past.accepted is False
    assert past.proposal == fraction_policy(0.02) and past.reason == b1.reason
    assert past.mean_delta == b1.mean_delta and fraction_of(past.policy) == 0.5
    # …and BANK_A is not: it sees only its own (accepted) proposal
    (a_past,) = proposer.contexts_of("BANK_A")[1].history
    assert a_past.accepted is True and fraction_of(a_past.proposal) == 0.2
    assert a_past.reason != b1.reason
    assert all(c.history == () for c in proposer.contexts if c.iteration == 1)


def test_history_grows_per_agent() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.9, 0.8, 0.0], "BANK_B": [0.6, None, 0.2]})
    run(config(EXP1, "convergence.max_iterations=4", "convergence.stability_window=10"), proposer)
    a4, b4 = (proposer.contexts_of(a)[3].history for a in ("BANK_A", "BANK_B"))
    assert [(r.iteration, r.accepted) for r in a4] == [(1, False), (2, False), (3, True)]
    assert [fraction_of(r.proposal) for r in a4] == [0.9, 0.8, 0.0]
    assert [(r.iteration, r.accepted, r.proposal is None) for r in b4] == [
        (1, False, False),
        (2, False, True),
        (3, True, False),
    ]


def test_invalid_proposal_is_recorded_as_no_valid_proposal() -> None:
    def script(ctx: ProposalContext) -> PolicyGenerationResult | dict[str, Any]:
        if ctx.agent_id == "BANK_A" and ctx.iteration == 1:
            return PolicyGenerationResult(
                None, 4, errors=("parameters.x: not an allowed parameter", "payment_tree: missing")
            )
        return dict(ctx.current_policy)

    proposer = ScriptedProposer(script)
    sink = RecordingSink()
    out = io.StringIO()
    _, result = run(
        config(EXP1, "convergence.max_iterations=2"),
        proposer,
        sinks=[sink, VerboseLogger(VerboseConfig.from_level(0), out)],
    )

    prop = of_type(sink.events, "proposal", "BANK_A")[0].payload
    assert prop.valid is False and prop.attempts == 4 and prop.proposal is None
    assert prop.errors == ("parameters.x: not an allowed parameter", "payment_tree: missing")
    assert not [e for e in of_type(sink.events, "decision", "BANK_A") if e.iteration == 1]  # nothing to judge
    rec = next(h for h in result.history if h["agent"] == "BANK_A" and h["iteration"] == 1)
    assert rec["accepted"] is False and rec["proposal"] is None
    assert rec["reason"] == ("no valid proposal: parameters.x: not an allowed parameter; payment_tree: missing")
    assert fraction_of(result.final_policies["BANK_A"]) == 0.5
    (past,) = proposer.contexts_of("BANK_A")[1].history
    assert past.proposal is None and past.reason == rec["reason"] and past.mean_delta is None
    assert "BANK_A     ✗ no valid proposal after 4 attempt(s): parameters.x" in out.getvalue()
    assert result.iterations == 2  # the run went on


def test_proposal_failing_at_run_time_is_rejected_and_the_run_continues() -> None:
    cfg = config(
        EXP1, "convergence.max_iterations=2", "policy_constraints.allowed_actions.payment_tree=[Release, Hold, Split]"
    )

    def script(ctx: ProposalContext) -> dict[str, Any]:
        if ctx.iteration == 1:  # both: a division by zero at run time
            return SPLIT if ctx.agent_id == "BANK_A" else _divide_by("system_tick_in_day")
        return fraction_policy(0.0 if ctx.agent_id == "BANK_A" else 0.2)

    proposer = ScriptedProposer(script)
    sink = RecordingSink()
    out = io.StringIO()
    runner, result = run(cfg, proposer, sinks=[sink, VerboseLogger(VerboseConfig.from_level(0), out)])

    a1, b1 = (next(h for h in result.history if h["agent"] == a and h["iteration"] == 1) for a in ("BANK_A", "BANK_B"))
    assert a1["accepted"] is False and a1["reason"].startswith("cannot run: ")
    assert "division by zero" in a1["reason"] and "BANK_A" in a1["reason"]
    assert b1["accepted"] is False and b1["reason"].startswith("cannot run: ")
    assert "division by zero" in b1["reason"] and "BANK_B" in b1["reason"]
    assert a1["proposal"] == SPLIT and a1["mean_delta"] is None

    # the run went on: iteration 2's proposals were judged and adopted
    assert result.iterations == 2
    assert fraction_of(result.final_policies["BANK_A"]) == 0.0
    assert fraction_of(result.final_policies["BANK_B"]) == 0.2
    # the agent is told next time
    (past,) = proposer.contexts_of("BANK_B")[1].history
    assert past.reason == b1["reason"] and past.proposal == _divide_by("system_tick_in_day")
    # the rejection is an event (so the display, the state and replay see it)
    decided = [e for e in of_type(sink.events, "decision") if e.iteration == 1]
    assert [(e.payload.agent, e.payload.accepted, e.payload.reason) for e in decided] == [
        ("BANK_A", False, a1["reason"]),
        ("BANK_B", False, b1["reason"]),
    ]
    assert "BANK_B     ✗ rejected" in out.getvalue() and "division by zero" in out.getvalue()
    # the live state counts them like the result does
    state = runner.get_current_state()
    assert (state.accepted, state.rejected) == (2, 2)
    assert sum(o.rejected for o in result.agents.values()) == 2


def test_proposal_outside_the_constraints_is_rejected_with_the_reason() -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [1.5]})
    _, result = run(config(EXP1, "convergence.max_iterations=1"), proposer)
    rec = result.history[0]
    assert rec["agent"] == "BANK_A" and rec["accepted"] is False
    assert "parameters.initial_liquidity_fraction: must be <= 1" in rec["reason"]
    assert fraction_of(result.final_policies["BANK_A"]) == 0.5
