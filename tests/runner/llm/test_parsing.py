"""Finding the policy object in a model's reply."""

from __future__ import annotations

import json

import pytest

from runner.llm.parsing import extract_policy_json
from runner.llm.retry_policy import retry_after_seconds
from runner.llm.untrusted import Scrubber

POLICY = {
    "parameters": {"initial_liquidity_fraction": 0.2},
    "payment_tree": {"type": "action", "node_id": "go", "action": "Release"},
}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(POLICY),
        f"```json\n{json.dumps(POLICY, indent=2)}\n```",
        f"```\n{json.dumps(POLICY)}\n```",
        f"Here is my policy:\n```json\n{json.dumps(POLICY)}\n```\nIt brings in less liquidity.",
        f"I lower the fraction {{a bit}}. {json.dumps(POLICY)} That should do. {{}}",
    ],
)
def test_accepted_shapes(text: str) -> None:
    doc = extract_policy_json(text, policy_id="p1")
    assert doc == {**POLICY, "version": "1.0", "policy_id": "p1"}


def test_missing_ids_are_deterministic_and_present_ones_kept() -> None:
    a = extract_policy_json(json.dumps(POLICY))
    b = extract_policy_json(json.dumps(POLICY, indent=4))
    assert a["policy_id"] == b["policy_id"] and a["policy_id"].startswith("llm_")
    kept = extract_policy_json(json.dumps({**POLICY, "policy_id": "mine", "version": "2"}))
    assert (kept["policy_id"], kept["version"]) == ("mine", "2")


def test_a_nested_object_of_a_broken_policy_is_not_taken_for_the_policy() -> None:
    broken = '{"parameters": {"initial_liquidity_fraction": 0.2}, "payment_tree": {"type": }'
    with pytest.raises(ValueError, match="invalid JSON"):
        extract_policy_json(f"Policy: {broken}")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        (None, "empty"),
        ("I would hold more liquidity.", "no JSON object"),
        ("[1, 2, 3]", "no JSON object"),
        ('```json\n{"parameters": {,}}\n```', "fenced block holds invalid JSON"),
        ('{"parameters": {"x": 1}', "do not balance"),
    ],
)
def test_rejected_replies_say_why(text: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        extract_policy_json(text)


def test_code_is_never_run() -> None:
    with pytest.raises(ValueError):
        extract_policy_json("__import__('os').system('echo hacked')")


class _HeaderError(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("rate limited")
        self.litellm_response_headers = headers


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds(_HeaderError({"Retry-After": "2"})) == 2.0
    assert retry_after_seconds(_HeaderError({"retry-after-ms": "250"})) == 0.25
    past = _HeaderError({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(past) == 0.0
    assert retry_after_seconds(_HeaderError({"Retry-After": "99999"})) == 300.0  # clipped
    assert retry_after_seconds(_HeaderError({})) is None


def test_scrubber_removes_key_and_masked_echoes() -> None:
    scrub = Scrubber("sk-SENTINEL-123")
    assert scrub("bad key sk-SENTINEL-123!") == "bad key [redacted]!"
    assert "SENTINEL" not in (scrub("Incorrect API key provided: sk-SENT****-123.") or "")
    assert Scrubber(None)("text") == "text"
