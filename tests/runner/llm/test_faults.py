"""Provider faults and bad answers, through real litellm HTTP calls to a scripted server."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import subprocess
import sys

import pytest

from runner.errors import ConfigError
from runner.llm import ExperimentLLMClient
from runner.llm.transport import LiteLLMTransport
from runner.policy import validate_policy
from runner.proposals import PolicyGenerationResult
from tests.conftest import ROOT
from tests.fakes.contexts import (
    FAKE_KEY,
    FAKE_KEY_ENV,
    exp2_constraints,
    exp2_context,
    fake_llm_config,
)
from tests.fakes.fake_openai import Delay, FakeOpenAIServer, Fault, Reply, policy_reply
from tests.helpers import fraction_policy


def propose(client: ExperimentLLMClient) -> PolicyGenerationResult:
    return asyncio.run(asyncio.wait_for(client.propose(exp2_context()), timeout=30))


def unknown_field_policy() -> dict[str, object]:
    doc = fraction_policy(0.08)
    doc["payment_tree"] = {
        "type": "condition",
        "node_id": "rich",
        "condition": {"op": ">=", "left": {"field": "balanec"}, "right": {"field": "amount"}},
        "on_true": {"type": "action", "node_id": "go", "action": "Release"},
        "on_false": {"type": "action", "node_id": "wait", "action": "Hold"},
    }
    return doc


def test_fault_script_recovers_and_records_every_reason(fake_llm: FakeOpenAIServer) -> None:
    config = fake_llm_config(fake_llm.base_url, max_retries=3, transport_retries=3, timeout_seconds=1.0)
    client = ExperimentLLMClient(config, exp2_constraints())
    fake_llm.push(
        Reply("Sure! I think the bank should keep less money around."),  # attempt 1
        policy_reply(unknown_field_policy()),  # attempt 2
        policy_reply(fraction_policy(1.5)),  # attempt 3
        Fault(429, retry_after=0.3),
        Fault(500),
        Delay(4.0),  # attempt 4: transport
        policy_reply(fraction_policy(0.08)),
    )
    result = propose(client)

    assert result.ok and result.policy is not None
    assert validate_policy(result.policy, exp2_constraints()) == []
    assert result.policy["parameters"] == {"initial_liquidity_fraction": 0.08}
    assert result.attempts == 4 and result.extra["reasks"] == 3
    assert result.extra["transport_failures"] == 3
    inter = result.interactions
    assert [i.attempt for i in inter] == [1, 2, 3, 4, 4, 4, 4]
    assert inter[0].validation_errors[0].startswith("(reply): no JSON object")
    assert inter[0].parsed_policy is None
    assert any("'balanec' is not a known field" in e for e in inter[1].validation_errors)
    assert inter[2].validation_errors == ("parameters.initial_liquidity_fraction: must be <= 1, got 1.5",)
    assert inter[3].error is not None and inter[3].error.startswith("RateLimitError")
    assert inter[4].error is not None and inter[4].error.startswith("InternalServerError")
    assert inter[5].error is not None and inter[5].error.startswith("Timeout")
    assert all(i.raw_response is None and i.prompt_tokens is None for i in inter[3:6])
    assert inter[6].error is None and inter[6].validation_errors == ()
    # Retry-After was honoured (tiny backoff_seconds otherwise), transport retries resent the
    # same conversation, and each re-ask listed the previous answer's errors.
    requests = fake_llm.requests
    assert requests[4].received_at - requests[3].received_at >= 0.3
    resent = [r.body["messages"] for r in requests[3:7]]
    assert all(m == resent[0] for m in resent)
    assert len(requests[3].body["messages"]) == 8
    assert "'balanec' is not a known field" in requests[2].body["messages"][-1]["content"]
    assert "must be <= 1, got 1.5" in requests[3].body["messages"][-1]["content"]
    assert client.usage.calls == 7 and client.usage.failed_calls == 3


def test_invalid_after_every_reask_gives_no_policy(fake_llm: FakeOpenAIServer) -> None:
    client = ExperimentLLMClient(fake_llm_config(fake_llm.base_url, max_retries=1), exp2_constraints())
    fake_llm.push(policy_reply(fraction_policy(1.5)), policy_reply(unknown_field_policy()))
    result = propose(client)
    assert result.policy is None and result.attempts == 2
    assert any("balanec" in e for e in result.errors)  # the last attempt's errors
    assert all(i.parsed_policy is not None for i in result.interactions)


def test_transport_retries_exhausted_gives_no_policy(fake_llm: FakeOpenAIServer) -> None:
    config = fake_llm_config(fake_llm.base_url, transport_retries=2, max_retries=3)
    client = ExperimentLLMClient(config, exp2_constraints())
    fake_llm.push(Fault(503), Fault(502), Fault(503), policy_reply(fraction_policy(0.08)))
    result = propose(client)
    assert result.policy is None and result.attempts == 1
    assert len(result.interactions) == 3 and fake_llm.remaining == 1
    assert all(i.error is not None for i in result.interactions)
    assert result.errors[0].startswith("ServiceUnavailableError")


def test_provider_refusal_is_final_not_retried(fake_llm: FakeOpenAIServer) -> None:
    client = ExperimentLLMClient(fake_llm_config(fake_llm.base_url), exp2_constraints())
    fake_llm.push(Fault(400, message="model does not exist"), policy_reply(fraction_policy(0.08)))
    result = propose(client)
    assert result.policy is None and len(fake_llm.requests) == 1
    assert result.errors[0].startswith("BadRequestError")


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refused_key_access_or_model_stops_the_run(fake_llm: FakeOpenAIServer, status: int) -> None:
    # Every later call would be refused too: one request, then a ConfigError (the run fails,
    # naming the model and the provider's reason), instead of a failed proposal per iteration.
    config = fake_llm_config(fake_llm.base_url, transport_retries=3, max_retries=3)
    client = ExperimentLLMClient(config, exp2_constraints())
    fake_llm.push(Fault(status, message=f"refused {FAKE_KEY}"), policy_reply(fraction_policy(0.08)))
    with pytest.raises(ConfigError) as caught:
        propose(client)
    assert len(fake_llm.requests) == 1
    message = str(caught.value)
    assert message.startswith("llm: openai/fake-model cannot be called: ") and "refused" in message
    assert FAKE_KEY not in message
    assert [i.error is not None for i in client.interactions] == [True]


def test_missing_credentials_are_refused_before_any_call(
    fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = fake_llm_config(fake_llm.base_url, api_key_env=None, transport_retries=3, backoff_seconds=5.0)
    with pytest.raises(ConfigError) as caught:
        ExperimentLLMClient(config, exp2_constraints())
    assert str(caught.value) == (
        "llm.model: openai/fake-model needs an API key in OPENAI_API_KEY, which is not "
        "set (or name the variable that holds it in llm.api_key_env; a server "
        "that checks none takes any value)"
    )  # it has an api_base
    # Through the transport regardless (as a Ray sweep's gateway would call): the OpenAI SDK
    # refuses to build the request and litellm reports it as a 500: one call, fatal (retrying
    # it with backoff would cost seconds per proposal, every iteration, and never succeed).
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    outcomes = asyncio.run(LiteLLMTransport(sleep).call(config, [{"role": "user", "content": "propose"}]))
    assert waits == []  # no backoff
    assert [(o.answer, o.fatal, o.transient) for o in outcomes] == [(None, True, False)]
    assert outcomes[0].error is not None and "Missing credentials" in outcomes[0].error
    assert fake_llm.requests == []


def test_api_key_never_recorded_or_logged(
    fake_llm: FakeOpenAIServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    config = fake_llm_config(fake_llm.base_url, transport_retries=1, max_retries=1)
    client = ExperimentLLMClient(config, exp2_constraints())
    fake_llm.push(
        Fault(500, message=f"upstream rejected key {FAKE_KEY}"),
        Reply(f"your key {FAKE_KEY} looks odd"),
        policy_reply(fraction_policy(0.08)),
    )
    result = propose(client)
    assert result.ok
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"  # it was used
    recorded = json.dumps([i.to_dict() for i in client.interactions])
    assert "[redacted]" in recorded
    out = capsys.readouterr()
    for text in (recorded, repr(result), caplog.text, out.out, out.err, json.dumps(fake_llm.requests[-1].body)):
        assert FAKE_KEY not in text
        assert "SENTINEL" not in text


def test_reasoning_options_sent_only_when_supported(
    fake_llm: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    effort = ExperimentLLMClient(fake_llm_config(fake_llm.base_url, reasoning_effort="low"), exp2_constraints())
    budget = ExperimentLLMClient(fake_llm_config(fake_llm.base_url, thinking_budget=2048), exp2_constraints())
    fake_llm.push(policy_reply(fraction_policy(0.08)), policy_reply(fraction_policy(0.08)))
    with caplog.at_level(logging.WARNING, logger="runner.llm"):
        propose(effort)
        propose(budget)
    assert fake_llm.requests[0].body["reasoning_effort"] == "low"
    assert "thinking" not in fake_llm.requests[1].body  # OpenAI models take no thinking budget
    assert "does not take a thinking budget" in caplog.text


def test_missing_key_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAKE_KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=FAKE_KEY_ENV):
        ExperimentLLMClient(fake_llm_config("http://127.0.0.1:9/v1"), exp2_constraints())
    with pytest.raises(ConfigError, match="builtin"):
        ExperimentLLMClient(
            fake_llm_config("http://127.0.0.1:9/v1", model="builtin/none", api_key_env=None), exp2_constraints()
        )


def test_returned_policy_is_a_copy_and_canonical(fake_llm: FakeOpenAIServer) -> None:
    client = ExperimentLLMClient(fake_llm_config(fake_llm.base_url), exp2_constraints())
    doc = fraction_policy(0.08)
    del doc["payment_tree"]["node_id"], doc["policy_id"]
    fake_llm.push(Reply(json.dumps(doc)))
    result = propose(client)
    assert result.policy is not None
    assert result.policy["policy_id"] == "llm_BANK_A_it5"
    assert result.policy["payment_tree"]["node_id"] == "payment_tree"  # filled from its path
    before = copy.deepcopy(result.interactions[0].parsed_policy)
    result.policy["parameters"]["initial_liquidity_fraction"] = 0.5
    assert result.interactions[0].parsed_policy == before


def test_import_runner_does_not_import_litellm() -> None:
    code = (
        "import os, sys, runner, runner.llm; assert 'litellm' not in sys.modules; "
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"
