"""The transport seam: `LiteLLMTransport` returns plain data, and the client works over any transport.

A Ray sweep's run actors get their `CallOutcome`s from a gateway actor in another process,
so an outcome must pickle and unpickle without litellm (checked in a fresh interpreter),
carry litellm's cost computed where litellm is, and hold no trace of the API key. The
gateway's concurrency slot (a ``gate``) is held for each HTTP exchange alone: retried,
exhausted, timed out or refused, never while backing off.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from runner.errors import ConfigError
from runner.llm import ExperimentLLMClient, LLMConfig
from runner.llm.responses import Answer, CallOutcome
from runner.llm.transport import LiteLLMTransport
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

MESSAGES = ({"role": "system", "content": "You set liquidity."}, {"role": "user", "content": "Propose."})
PLAIN = (str, int, float, bool, type(None))


def call(config: LLMConfig, transport: LiteLLMTransport | None = None) -> list[CallOutcome]:
    return asyncio.run(asyncio.wait_for((transport or LiteLLMTransport()).call(config, MESSAGES), timeout=30))


def assert_plain(value: Any) -> None:
    """Only builtin scalars, tuples, lists, dicts and our two dataclasses, all the way down."""
    if isinstance(value, CallOutcome | Answer):
        for f in dataclasses.fields(value):
            assert_plain(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            assert_plain(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_plain(k)
            assert_plain(v)
    else:
        assert isinstance(value, PLAIN), f"{type(value).__module__}.{type(value).__name__} in an outcome"


def unpickled_without_litellm(data: bytes) -> str:
    """Load ``data`` in a fresh interpreter; fail if that needs litellm. Its repr."""
    code = (
        "import pickle, sys; o = pickle.load(sys.stdin.buffer); "
        "assert 'litellm' not in sys.modules, 'unpickling imported litellm'; print(repr(o))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, cwd=ROOT, capture_output=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stdout.decode()


def test_outcomes_are_plain_data_that_unpickle_without_litellm(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.push(Fault(500), Reply("the answer", reasoning="thought about it", usage=(200, 50)))
    outcomes = call(fake_llm_config(fake_llm.base_url, transport_retries=1))

    assert [o.error is None for o in outcomes] == [False, True]
    failed, ok = outcomes
    assert failed.answer is None and failed.transient and failed.error is not None
    assert ok.answer == Answer("the answer", "thought about it", 200, 50, None)  # fake-model: no price
    assert ok.messages == MESSAGES and ok.latency_seconds > 0
    assert_plain(outcomes)
    data = pickle.dumps(outcomes)
    assert pickle.loads(data) == outcomes
    assert b"litellm" not in data and b"openai" not in data
    assert "the answer" in unpickled_without_litellm(data)


def test_cost_is_priced_in_the_transport(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.push(Reply("priced", usage=(1000, 100)))
    [outcome] = call(fake_llm_config(fake_llm.base_url, model="openai/gpt-4o-mini"))
    assert outcome.answer is not None and outcome.answer.prompt_tokens == 1000
    assert isinstance(outcome.answer.cost_usd, float) and outcome.answer.cost_usd > 0
    assert_plain(outcome)


def test_key_is_scrubbed_from_answers_and_errors(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.push(Fault(500, message=f"bad key {FAKE_KEY}"), Reply(f"your key {FAKE_KEY}", reasoning=FAKE_KEY))
    outcomes = call(fake_llm_config(fake_llm.base_url, transport_retries=1))
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    text = repr(outcomes)
    assert FAKE_KEY not in text and "SENTINEL" not in text and "[redacted]" in text


def test_missing_key_variable_fails_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAKE_KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=FAKE_KEY_ENV):
        call(fake_llm_config("http://127.0.0.1:9/v1"))


def test_supported_params_are_looked_up_once_per_model() -> None:
    transport = LiteLLMTransport()
    first = asyncio.run(transport.supported_params("openai/gpt-4o-mini"))
    assert first is not None and "temperature" in first
    assert asyncio.run(transport.supported_params("openai/gpt-4o-mini")) is first


class CannedTransport:
    """An `LLMTransport` without litellm: answers every call with one policy."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[tuple[LLMConfig, list[dict[str, str]]]] = []

    async def supported_params(self, model: str) -> list[str] | None:
        return None

    async def call(self, config: LLMConfig, messages: Sequence[Mapping[str, str]]) -> list[CallOutcome]:
        self.calls.append((config, [dict(m) for m in messages]))
        sent = tuple(dict(m) for m in messages)
        return [CallOutcome(sent, Answer(self.text, None, 10, 5, 0.25), None, False, 0.01)]


def test_client_over_another_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key variable belongs to the transport's process: this one need not have it."""
    monkeypatch.delenv(FAKE_KEY_ENV, raising=False)
    transport = CannedTransport(policy_reply(fraction_policy(0.08)).content)
    client = ExperimentLLMClient(fake_llm_config("http://127.0.0.1:9/v1"), exp2_constraints(), transport=transport)
    result = asyncio.run(client.propose(exp2_context()))
    assert result.ok and result.policy is not None
    assert result.policy["parameters"] == {"initial_liquidity_fraction": 0.08}
    assert len(transport.calls) == 1 and transport.calls[0][1][0]["role"] == "system"
    [interaction] = result.interactions
    assert (interaction.prompt_tokens, interaction.completion_tokens, interaction.cost_usd) == (10, 5, 0.25)
    assert client.usage.calls == 1


def test_a_client_over_a_remote_transport_never_imports_litellm() -> None:
    code = """
import asyncio, sys
from runner.llm import ExperimentLLMClient
from tests.fakes.contexts import exp2_constraints, exp2_context, fake_llm_config
from tests.helpers import fraction_policy
from tests.fakes.fake_openai import policy_reply
from tests.runner.llm.test_transport import CannedTransport
transport = CannedTransport(policy_reply(fraction_policy(0.08)).content)
client = ExperimentLLMClient(fake_llm_config("http://127.0.0.1:9/v1"), exp2_constraints(), transport=transport)
assert asyncio.run(client.propose(exp2_context())).ok
assert "litellm" not in sys.modules and "openai" not in sys.modules, "litellm imported"
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != FAKE_KEY_ENV},
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


class RecordingGate:
    """A `runner.llm.transport.Gate`: records when it is held, and asserts it is never re-entered."""

    def __init__(self) -> None:
        self.held = False
        self.spans: list[tuple[float, float]] = []

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        assert not self.held, "the gate entered twice at once"
        self.held, began = True, time.monotonic()
        try:
            yield
        finally:
            self.held = False
            self.spans.append((began, time.monotonic()))


@pytest.mark.parametrize(
    "script",
    [
        [Fault(503), Fault(429, retry_after=0.05), Reply("fine")],  # retried, then answered
        [Fault(500), Fault(500), Fault(500)],  # retries exhausted
        [Delay(3.0), Reply("late")],  # a timeout, then answered
        [Fault(401)],  # fatal: no retry
    ],
)
def test_the_gate_is_held_for_each_http_exchange_alone(fake_llm: FakeOpenAIServer, script: list[Any]) -> None:
    """A Ray gateway's slot: held while a request is at the provider, never while backing off."""
    fake_llm.push(*script)
    gate = RecordingGate()
    waits: list[bool] = []

    async def sleep(seconds: float) -> None:
        waits.append(gate.held)

    config = fake_llm_config(fake_llm.base_url, transport_retries=2, timeout_seconds=1.0)
    outcomes = asyncio.run(asyncio.wait_for(LiteLLMTransport(sleep).call(config, MESSAGES, gate=gate), timeout=60))
    assert len(gate.spans) == len(outcomes) == len(fake_llm.requests)  # one exchange, one hold
    assert waits == [False] * (len(outcomes) - 1)  # every backoff outside the gate
    for (began, ended), request in zip(gate.spans, fake_llm.requests, strict=True):
        assert began <= request.received_at <= ended  # the request reached the server inside
    assert not gate.held
