"""Find the policy JSON object in a model's reply. Text is only ever decoded, never run.

Accepted shapes, tried in this order: the whole reply is a JSON object; a fenced code block
(```json … ``` or plain ```); the first balanced top-level ``{…}`` in surrounding prose that
decodes as JSON (a nested object of a broken policy is never mistaken for the policy).
JSON is decoded with the input bounds of every file (`runner.input_files.decode_json`): a
duplicate key, ``NaN``, a number too large for a float or nesting deeper than 200 levels is
a reason the reply is invalid, never an exception.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from runner.input_files import InputError, decode_json

DEFAULT_VERSION = "1.0"
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n(.*?)```", re.DOTALL)
_MAX_CANDIDATES = 50  # top-level {...} spans tried in prose before giving up


def _decode_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) if ``text`` is exactly one JSON object, else (None, why not)."""
    try:
        value = decode_json(text)  # bounded: duplicate keys, NaN, huge numbers, deep nesting
    except InputError as exc:
        return None, str(exc)
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got a JSON {type(value).__name__}"
    return value, None


def _balanced_objects(text: str) -> list[str]:
    """Every top-level ``{…}`` span of ``text`` whose braces balance (strings respected)."""
    spans: list[str] = []
    i, n = 0, len(text)
    while i < n and len(spans) < _MAX_CANDIDATES:
        if text[i] != "{":
            i += 1
            continue
        depth, in_string, escaped, j = 0, False, False, i
        while j < n:
            c = text[j]
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    spans.append(text[i : j + 1])
                    break
            j += 1
        else:
            break  # unbalanced until the end of the text
        i = j + 1
    return spans


def _fill_ids(doc: dict[str, Any], policy_id: str | None) -> dict[str, Any]:
    out = dict(doc)
    out.setdefault("version", DEFAULT_VERSION)
    if "policy_id" not in out:
        if policy_id is None:
            canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
            policy_id = "llm_" + hashlib.sha256(canonical.encode()).hexdigest()[:12]
        out["policy_id"] = policy_id
    return out


def extract_policy_json(text: str | None, *, policy_id: str | None = None) -> dict[str, Any]:
    """The policy object in ``text``, with ``version`` and ``policy_id`` filled if missing.

    A missing ``policy_id`` becomes ``policy_id`` when given, else ``llm_`` plus the first 12
    hex digits of the SHA-256 of the object's canonical JSON (deterministic, no uuid).

    Args:
        text: the model's reply.
        policy_id: the id to use when the object has none.

    Raises:
        ValueError: no JSON object could be decoded; the message says why.

    Example:
        >>> extract_policy_json('Here: {"parameters": {}} done', policy_id="p")
        {'parameters': {}, 'version': '1.0', 'policy_id': 'p'}
    """
    if text is None or not text.strip():
        raise ValueError("the reply is empty; expected one JSON object (the policy)")
    stripped = text.strip()
    whole, whole_error = _decode_object(stripped)
    if whole is not None:
        return _fill_ids(whole, policy_id)
    fence_error: str | None = None
    for match in _FENCE.finditer(stripped):
        block, error = _decode_object(match.group(2).strip())
        if block is not None:
            return _fill_ids(block, policy_id)
        fence_error = fence_error or f"the fenced block holds {error}"
    span_error: str | None = None
    for span in _balanced_objects(stripped):
        found, error = _decode_object(span)
        if found is not None:
            return _fill_ids(found, policy_id)
        span_error = span_error or error
    detail = fence_error or span_error
    if detail is None and "{" in stripped:
        detail = f"{whole_error} (the braces do not balance)"
    if detail is not None:
        raise ValueError(f"no valid JSON policy object in the reply: {detail}")
    raise ValueError("no JSON object in the reply; expected one JSON object (the policy)")
