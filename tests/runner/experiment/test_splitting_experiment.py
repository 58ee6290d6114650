"""An experiment whose constraints allow splitting runs end to end (issue #11): with the
builtin proposer, and with a (fake) LLM that proposes a splitting policy through the real
litellm client; the proposal is evaluated by the batch engine like any other."""

from __future__ import annotations

from typing import Any

from runner.experiment.proposers import make_proposer
from tests.fakes.contexts import FAKE_KEY_ENV
from tests.fakes.fake_openai import FakeOpenAIServer, policy_reply
from tests.runner.experiment.support import EXP1, config, fraction_policy, run

ALLOW_SPLIT = (
    "convergence.max_iterations=2",
    "policy_constraints.allowed_actions.payment_tree=[Release, Hold, Split, StaggerSplit]",
    "policy_constraints.allowed_fields=[system_tick_in_day, balance, ticks_to_deadline, amount, is_split]",
)


def splitting_policy(fraction: float) -> dict[str, Any]:
    """Pay whole what the balance covers, else split a scenario payment in two, else hold."""

    def act(name: str, **args: float) -> dict[str, Any]:
        return {
            "type": "action",
            "node_id": name.lower(),
            "action": name,
            "parameters": {k: {"value": v} for k, v in args.items()},
        }

    return {
        **fraction_policy(fraction, "splitter"),
        "payment_tree": {
            "type": "condition",
            "node_id": "covered",
            "condition": {"op": ">=", "left": {"field": "balance"}, "right": {"field": "amount"}},
            "on_true": act("Release"),
            "on_false": {
                "type": "condition",
                "node_id": "whole",
                "condition": {"op": "==", "left": {"field": "is_split"}, "right": {"value": 0}},
                "on_true": act("Split", num_splits=2),
                "on_false": act("Hold"),
            },
        },
    }


def test_builtin_coordinate_runs_with_split_allowed() -> None:
    _, result = run(config(EXP1, "llm.model=builtin/coordinate", *ALLOW_SPLIT))
    assert result.iterations == 2
    assert all(h["reason"] is None or not h["reason"].startswith("cannot run") for h in result.history)


def test_fake_llm_proposes_a_splitting_policy(fake_llm: FakeOpenAIServer) -> None:
    cfg = config(
        EXP1,
        "llm.model=openai/fake-model",
        f"llm.api_base={fake_llm.base_url}",
        f"llm.api_key_env={FAKE_KEY_ENV}",
        "llm.timeout_seconds=5",
        "llm.backoff_seconds=0.001",
        *ALLOW_SPLIT,
    )
    fake_llm.push(*[policy_reply(splitting_policy(0.1)) for _ in range(8)])
    proposer = make_proposer(cfg.llm, cfg.policy_constraints, cfg.llm.system_prompt)
    _, result = run(cfg, proposer)
    judged = [h for h in result.history if h["iteration"] == 1]
    assert len(judged) == 2
    for rec in judged:  # evaluated on the batch engine, not refused
        assert rec["proposal"]["payment_tree"]["on_false"]["on_true"]["action"] == "Split"
        assert rec["mean_delta"] is not None, rec["reason"]
    requests = list(fake_llm)
    system = requests[0].body["messages"][0]["content"]
    assert "split friction x (parts - 1)" in system and "is_split" in system
