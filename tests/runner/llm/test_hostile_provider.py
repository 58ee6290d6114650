"""A hostile provider, through the real litellm client against the fake server on 127.0.0.1.

Each class of hostile answer must give a recorded outcome with a reason — an invalid
proposal, a failed call or an unpriced call — and never an exception out of ``propose``:

* replies whose JSON is hostile (numbers too large for a float or beyond int64, NaN,
  duplicate keys, deep nesting, lone surrogates);
* HTTP bodies that are not a chat completion at all (deeply nested, not JSON, wrong shapes);
* absurd ``usage`` (negative, beyond int64, strings, NaN, booleans, fractions);
* a server that trickles bytes forever (bounded by ``timeout_seconds`` for the whole call);
* huge replies and huge error lists (capped, with a note; re-asks capped too).

Every recorded interaction must be storable: JSON- and UTF-8-encodable.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from runner.llm import ExperimentLLMClient
from runner.llm.untrusted import (
    MAX_ERROR_LINE_CHARS,
    MAX_REASK_ERRORS,
    MAX_REASK_REPLY_CHARS,
    MAX_REPLY_CHARS,
    MAX_STORED_ERRORS,
)
from runner.proposals import LLMInteraction, PolicyGenerationResult
from tests.fakes.contexts import exp2_constraints, exp2_context, fake_llm_config, fraction_policy
from tests.fakes.fake_openai import FakeOpenAIServer, Raw, Reply, Trickle, completion_body

VALID = json.dumps(fraction_policy(0.2, "current"))
assert '"current"' in VALID and '"parameters"' in VALID and "0.2" in VALID  # the cases below edit these


def propose(server: FakeOpenAIServer, **config: Any) -> tuple[PolicyGenerationResult, ExperimentLLMClient]:
    settings = {"max_retries": 0, "transport_retries": 0, **config}
    client = ExperimentLLMClient(fake_llm_config(server.base_url, **settings), exp2_constraints())
    result = asyncio.run(asyncio.wait_for(client.propose(exp2_context()), timeout=60))
    return result, client


def assert_storable(interactions: tuple[LLMInteraction, ...]) -> None:
    for interaction in interactions:
        text = json.dumps(interaction.to_dict(), ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")  # no lone surrogate anywhere
        assert LLMInteraction.from_dict(json.loads(text)) == interaction


def body(content: Any = VALID, usage: Any = None, **message: Any) -> bytes:
    doc = completion_body(Reply(""), "fake-model", 1)
    doc["choices"][0]["message"] = {"role": "assistant", "content": content, **message}
    if usage is not None:
        doc["usage"] = usage
    return json.dumps(doc).encode()


# --------------------------------------------------------------------------- hostile JSON in replies

DEEP = '{"a": ' * 10_000 + "1" + "}" * 10_000  # 70 000 characters: within the reply cap
HOSTILE_REPLIES = {
    "float_overflow": (VALID.replace("0.2", "1e400"), "too large for a float"),
    "int_beyond_int64": (VALID.replace("0.2", "9" * 30), "beyond int64"),
    "int_beyond_str_limit": (VALID.replace("0.2", "9" * 5000), "beyond int64"),
    "nan": (VALID.replace("0.2", "NaN"), "NaN is not a number"),
    "infinity": (VALID.replace("0.2", "-Infinity"), "-Infinity is not a number"),
    "duplicate_key": (VALID[:-1] + ', "parameters": {}}', "duplicate key 'parameters'"),
    "deep_nesting": (DEEP, "nested more than"),
    "deep_in_fence": ("```json\n" + DEEP + "\n```", "nested more than"),
    "nested_just_too_deep": ('{"a": ' * 201 + "1" + "}" * 201, "nested more than 200"),
    "lone_surrogate_value": (VALID.replace('"current"', '"\\ud800"'), "cannot be encoded as UTF-8"),
    "lone_surrogate_key": (VALID.replace('"parameters"', '"p\\udfffx"'), "cannot be encoded as UTF-8"),
    "deep_list": ("[" * 100_000 + "]" * 100_000, "no JSON object"),
    "unbalanced": ("{" * 100_000, "the braces do not balance"),
    "not_an_object": ("[1, 2, 3]", "no JSON object"),
    "empty": ("", "the reply is empty"),
}


@pytest.mark.parametrize("content,reason", HOSTILE_REPLIES.values(), ids=HOSTILE_REPLIES.keys())
def test_hostile_reply_json_is_an_invalid_proposal(fake_llm: FakeOpenAIServer, content: str, reason: str) -> None:
    fake_llm.push(Reply(content))
    result, _ = propose(fake_llm)
    assert result.policy is None and result.attempts == 1
    assert any(reason in e for e in result.errors), result.errors
    (only,) = result.interactions
    assert only.error is None and only.parsed_policy is None
    assert_storable(result.interactions)


def test_a_policy_nested_200_levels_is_still_read(fake_llm: FakeOpenAIServer) -> None:
    # the bound sits above any tree validation accepts (100 levels): depth 200 decodes
    doc = fraction_policy(0.2)
    doc["x"] = json.loads('{"a": ' * 198 + "1" + "}" * 198)
    fake_llm.push(Reply(json.dumps(doc)))
    result, _ = propose(fake_llm)
    assert not any("nested" in e for e in result.errors)
    assert any("x" in e for e in result.errors)  # an unknown key, reported as such


def test_surrogates_in_the_reply_text_are_replaced_not_stored(fake_llm: FakeOpenAIServer) -> None:
    raw = body(content="note \ud83d alone\n" + VALID, reasoning_content="\udfff thinking")
    fake_llm.push(Raw(raw.replace(b"\\ud83d", b"\\ud83d").replace(b"\\udfff", b"\\udfff")))
    result, _ = propose(fake_llm)
    assert result.ok
    (only,) = result.interactions
    assert only.raw_response is not None and "\ufffd alone" in only.raw_response
    assert only.reasoning == "\ufffd thinking"
    assert_storable(result.interactions)


# --------------------------------------------------------------------------- hostile HTTP bodies

HOSTILE_BODIES = {
    "deeply_nested_body": b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "not_json": b"<html>502 Bad Gateway</html>",
    "empty_body": b"",
    "json_list": b"[1, 2]",
    "choices_not_a_list": b'{"choices": "lots", "object": "chat.completion"}',
    "no_choices": body()[:0] + b'{"id": "x", "object": "chat.completion", "model": "m", "choices": []}',
    "content_a_number": body(content=12345),
    "content_a_list": body(content=[{"type": "text", "text": VALID}]),
    "content_null": body(content=None),
    "message_missing": b'{"id": "x", "object": "chat.completion", "choices": [{"index": 0}]}',
    "huge_number_in_body": body().replace(b'"created": ', b'"created": 1e400, "x": '),
}


@pytest.mark.parametrize("raw", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_http_body_never_ends_the_run(fake_llm: FakeOpenAIServer, raw: bytes) -> None:
    fake_llm.push(Raw(raw))
    result, client = propose(fake_llm)
    assert result.attempts == 1 and len(result.interactions) == 1
    (only,) = result.interactions
    if result.policy is None:  # a failed call or an invalid proposal: either way a reason
        assert result.errors and all(e.strip() for e in result.errors)
        assert only.error is not None or only.validation_errors
    assert client.usage.calls == 1
    assert_storable(result.interactions)


# --------------------------------------------------------------------------- absurd usage

ABSURD_USAGE = {
    "negative": {"prompt_tokens": -5, "completion_tokens": 40, "total_tokens": 35},
    "beyond_int64": {"prompt_tokens": 2**70, "completion_tokens": 40, "total_tokens": 2**70 + 40},
    "just_beyond_bound": {"prompt_tokens": 10**12 + 1, "completion_tokens": 1, "total_tokens": 10**12 + 2},
    "strings": {"prompt_tokens": "lots", "completion_tokens": "many", "total_tokens": "all"},
    "fractions": {"prompt_tokens": 1.5, "completion_tokens": 2.5, "total_tokens": 4},
    "nested": {"prompt_tokens": {"a": 1}, "completion_tokens": [1], "total_tokens": None},
    "not_a_mapping": "usage",
}


@pytest.mark.parametrize("usage", ABSURD_USAGE.values(), ids=ABSURD_USAGE.keys())
def test_absurd_usage_is_an_unpriced_call_with_a_reason(fake_llm: FakeOpenAIServer, usage: Any) -> None:
    fake_llm.push(Raw(body(usage=usage)))
    result, client = propose(fake_llm)
    (only,) = result.interactions
    if only.error is None:  # litellm read the body: the policy stands, the call is unpriced
        assert result.ok
        assert only.prompt_tokens is None and only.completion_tokens is None and only.cost_usd is None
        assert client.usage.unpriced_calls == 1
    else:  # litellm refused the body itself: a failed call with its reason
        assert only.error and not result.ok
    assert_storable(result.interactions)


@pytest.mark.parametrize(
    "usage", [{"prompt_tokens": "12", "completion_tokens": "4"}, {"prompt_tokens": True, "completion_tokens": False}]
)
def test_usage_litellm_coerces_is_kept_only_as_plain_counts(fake_llm: FakeOpenAIServer, usage: Any) -> None:
    fake_llm.push(Raw(body(usage=usage)))
    result, _ = propose(fake_llm)
    (only,) = result.interactions
    for count in (only.prompt_tokens, only.completion_tokens):
        assert count is None or (type(count) is int and count >= 0)
    assert_storable(result.interactions)


def test_nan_usage_in_the_body(fake_llm: FakeOpenAIServer) -> None:
    raw = body(usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    fake_llm.push(Raw(raw.replace(b'"prompt_tokens": 1', b'"prompt_tokens": NaN')))
    result, _ = propose(fake_llm)
    (only,) = result.interactions
    assert only.prompt_tokens is None and only.cost_usd is None
    assert_storable(result.interactions)


@pytest.mark.parametrize("prompt", [0, 1, 10**12])
def test_sane_usage_at_the_edges_is_kept(fake_llm: FakeOpenAIServer, prompt: int) -> None:
    fake_llm.push(Reply(VALID, usage=(prompt, 7)))
    result, _ = propose(fake_llm)
    (only,) = result.interactions
    assert (only.prompt_tokens, only.completion_tokens) == (prompt, 7) and only.notes == ()


def test_negative_usage_leaves_a_note(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.push(Reply(VALID, usage=(-3, 7)))
    result, _ = propose(fake_llm)
    (only,) = result.interactions
    assert result.ok and only.prompt_tokens is None
    assert any("usage.prompt_tokens unusable (-3)" in n for n in only.notes)
    assert only.to_dict()["notes"] == list(only.notes)


# --------------------------------------------------------------------------- timeouts


def test_a_trickling_server_is_bounded_by_timeout_seconds(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.push(Trickle(interval=0.1), Trickle(interval=0.1))
    started = time.monotonic()
    result, _ = propose(fake_llm, timeout_seconds=1.0, transport_retries=1)
    elapsed = time.monotonic() - started
    assert elapsed < 25, elapsed  # two calls of 1 s + 5 s grace each, plus litellm's start
    assert [i.error.split(":")[0] for i in result.interactions if i.error] == ["Timeout", "Timeout"]
    assert result.policy is None and "within 1 s" in result.errors[0]


# --------------------------------------------------------------------------- size limits


def test_a_10_mb_reply_is_cut_and_never_resent(fake_llm: FakeOpenAIServer) -> None:
    huge = "x" * 10_000_000
    fake_llm.push(Reply(huge, reasoning=huge), Reply(huge), Reply(VALID))
    result, _ = propose(fake_llm, max_retries=2)
    assert result.ok and result.attempts == 3
    first = result.interactions[0]
    assert first.raw_response is not None and len(first.raw_response) < MAX_REPLY_CHARS + 100
    assert first.reasoning is not None and len(first.reasoning) < MAX_REPLY_CHARS + 100
    assert any("the reply cut to its first 100,000" in n for n in first.notes)
    assert any("the reasoning cut" in n for n in first.notes)
    for request in fake_llm.requests[1:]:  # each re-ask quotes at most the capped reply
        quoted = [m["content"] for m in request.body["messages"] if m["role"] == "assistant"]
        assert all(len(q) < MAX_REASK_REPLY_CHARS + 100 for q in quoted)
        assert len(json.dumps(request.body)) < 200_000
    stored = sum(len(json.dumps(i.to_dict())) for i in result.interactions)
    assert stored < 1_000_000  # from 20 MB of replies


def test_error_lists_are_capped_in_re_asks_and_in_storage(fake_llm: FakeOpenAIServer) -> None:
    doc = fraction_policy(0.2)
    doc["parameters"].update({f"bogus_{i}_" + "y" * 250: 1 for i in range(300)})  # within the reply cap
    fake_llm.push(Reply(json.dumps(doc)), Reply(VALID))
    result, _ = propose(fake_llm, max_retries=1)
    assert result.ok
    stored = result.interactions[0].validation_errors
    assert len(stored) == MAX_STORED_ERRORS + 1 and stored[-1].startswith("(… 250 more errors")
    assert all(len(e) < MAX_ERROR_LINE_CHARS + 100 for e in stored)
    reask = fake_llm.requests[1].body["messages"][-1]["content"]
    assert reask.count("\n- ") == MAX_REASK_ERRORS + 1 and "280 more errors" in reask


def test_terminal_control_sequences_never_reach_a_terminal_or_file(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.push(Reply("\x1b[2J\x1b]0;owned\x07\x00\x9b" + VALID, reasoning="\x1b[31mred"))
    result, _ = propose(fake_llm)
    assert result.ok  # tab, newline and the JSON survive
    (only,) = result.interactions
    for text in (only.raw_response, only.reasoning):
        assert text is not None and not any(c in text for c in "\x1b\x07\x00\x9b")
