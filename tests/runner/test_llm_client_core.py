"""The LLM client end to end: real litellm HTTP calls to a scripted local server."""

from __future__ import annotations

import asyncio
import json

import pytest

from runner.llm import ExperimentLLMClient
from runner.llm.system_prompt import DEFAULT_SYSTEM_PROMPT
from runner.policy import validate_policy
from runner.proposals import PolicyGenerationResult, PolicyProposer
from tests.fakes.contexts import (
    FAKE_KEY,
    SYSTEM_PROMPT,
    exp2_constraints,
    exp2_context,
    fake_llm_config,
)
from tests.fakes.fake_openai import FakeOpenAIServer, Reply, policy_reply
from tests.helpers import fraction_policy


def propose(client: ExperimentLLMClient, agent: str = "BANK_A") -> PolicyGenerationResult:
    return asyncio.run(asyncio.wait_for(client.propose(exp2_context(agent)), timeout=30))


def test_creates_with_system_prompt_from_config(fake_llm: FakeOpenAIServer) -> None:
    config = fake_llm_config(fake_llm.base_url)
    client = ExperimentLLMClient(config, exp2_constraints())
    assert isinstance(client, PolicyProposer)
    assert client.name == "openai/fake-model"
    assert client.system_prompt == SYSTEM_PROMPT
    fake_llm.push(policy_reply(fraction_policy(0.08)))
    propose(client)
    system = fake_llm.requests[0].body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith(SYSTEM_PROMPT + "\n\n## Policy format")
    assert system["content"].count(SYSTEM_PROMPT) == 1
    assert "initial_liquidity_fraction (float, 0 to 1)" in system["content"]


def test_creates_without_system_prompt(fake_llm: FakeOpenAIServer) -> None:
    config = fake_llm_config(fake_llm.base_url, system_prompt=None)
    client = ExperimentLLMClient(config, exp2_constraints())
    assert client.system_prompt is None
    fake_llm.push(policy_reply(fraction_policy(0.08)))
    assert propose(client).ok
    system = fake_llm.requests[0].body["messages"][0]["content"]
    assert system.startswith(DEFAULT_SYSTEM_PROMPT + "\n\n## Policy format")
    assert "## Your answer" in system
    # a text given to the constructor (e.g. read from system_prompt_file) wins
    explicit = ExperimentLLMClient(config, exp2_constraints(), system_prompt="From a file.")
    fake_llm.push(policy_reply(fraction_policy(0.08)))
    propose(explicit)
    assert fake_llm.requests[1].body["messages"][0]["content"].startswith("From a file.\n\n")


def test_generate_policy_calls_underlying_client(fake_llm: FakeOpenAIServer) -> None:
    config = fake_llm_config(fake_llm.base_url, temperature=0.3, max_tokens=2048)
    client = ExperimentLLMClient(config, exp2_constraints())
    fake_llm.push(policy_reply(fraction_policy(0.08), prose="Bring in a little less."))
    result = propose(client)
    assert len(fake_llm.requests) == 1
    request = fake_llm.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert request.body["model"] == "fake-model"
    assert request.body["temperature"] == 0.3
    assert request.body["max_tokens"] == 2048
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert request.body["messages"][1]["content"].startswith("# BANK_A, iteration 5")
    assert "reasoning_effort" not in request.body and "thinking" not in request.body
    assert result.ok and result.attempts == 1 and result.errors == ()
    assert result.policy is not None
    assert result.policy["parameters"] == {"initial_liquidity_fraction": 0.08}
    assert validate_policy(result.policy, exp2_constraints()) == []


def test_captures_interactions_for_audit(fake_llm: FakeOpenAIServer) -> None:
    client = ExperimentLLMClient(fake_llm_config(fake_llm.base_url), exp2_constraints())
    text = json.dumps(fraction_policy(0.09))
    fake_llm.push(
        Reply(text, reasoning="Less liquidity, same settlement.", usage=(321, 54)),
        Reply(json.dumps(fraction_policy(0.11)), usage=None),
    )
    first = propose(client)
    second = propose(client, "BANK_B")
    (one,) = first.interactions
    assert one.agent_id == "BANK_A" and one.iteration == 5 and one.attempt == 1
    assert one.model == "openai/fake-model"
    assert list(one.messages) == fake_llm.requests[0].body["messages"]
    assert one.raw_response == text
    assert one.reasoning == "Less liquidity, same settlement."
    assert one.parsed_policy is not None
    assert one.parsed_policy["parameters"] == {"initial_liquidity_fraction": 0.09}
    assert one.validation_errors == () and one.error is None
    assert (one.prompt_tokens, one.completion_tokens) == (321, 54)
    assert one.cost_usd is None  # litellm has no price for fake-model
    assert one.latency_seconds > 0
    assert json.loads(json.dumps(one.to_dict()))["prompt_tokens"] == 321
    (two,) = second.interactions
    assert two.agent_id == "BANK_B"
    assert (two.prompt_tokens, two.completion_tokens) == (None, None)  # never estimated
    assert client.interactions == (one, two)
    usage = client.usage
    assert (usage.calls, usage.failed_calls, usage.prompt_tokens, usage.completion_tokens) == (2, 0, 321, 54)
    assert usage.cost_usd is None and usage.unpriced_calls == 2


@pytest.mark.parametrize("max_retries", [0, 2])
def test_respects_max_retries_from_config(fake_llm: FakeOpenAIServer, max_retries: int) -> None:
    config = fake_llm_config(fake_llm.base_url, max_retries=max_retries)
    client = ExperimentLLMClient(config, exp2_constraints())
    fake_llm.push(
        *[Reply("I would lower the fraction a bit.")] * (max_retries + 1), policy_reply(fraction_policy(0.08))
    )
    result = propose(client)
    assert result.policy is None
    assert result.attempts == max_retries + 1
    assert len(fake_llm.requests) == max_retries + 1
    assert fake_llm.remaining == 1  # the valid reply was never asked for
    assert result.extra["reasks"] == max_retries
    assert result.errors and result.errors[0].startswith("(reply): no JSON object")
    for n, request in enumerate(fake_llm.requests):
        messages = request.body["messages"]
        assert len(messages) == 2 + 2 * n  # one conversation, growing by answer + errors
        if n:
            assert messages[-2] == {"role": "assistant", "content": "I would lower the fraction a bit."}
            assert "(reply): no JSON object" in messages[-1]["content"]
