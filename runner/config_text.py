"""The pieces of a one-line config error: dotted paths, short values, "did you mean".

`runner.config_errors` builds its lines from these, and the policy parser and validator use
`closest` and `show_value` for their own messages, so every error names a field and shows a
received value the same way. ``Loc`` is a location in the input: keys and list indices.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

Loc = tuple[str | int, ...]


def closest(word: object, choices: Any) -> str | None:
    """The choice ``word`` was most likely meant to be (a typo or a truncation), if any."""
    if not isinstance(word, str) or not word:
        return None
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return close[0]
    lower = word.lower()
    return next((c for c in options if len(word) >= 4 and lower in c.lower()), None)


def dotted(keys: Loc) -> str:
    """``agents[0].policy``: keys joined by dots, list indices in brackets."""
    out = ""
    for item in keys:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out


def join_path(prefix: str, path: str) -> str:
    """``prefix.path``, or whichever of the two is not empty."""
    if prefix and path:
        return f"{prefix}.{path}"
    return prefix or path


def show_value(value: Any) -> str:
    """A short rendering of a received value for "…, got <value>" (long values summarised)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = ""
    if not text or len(text) > 60:
        if isinstance(value, dict):
            text = f"a mapping with keys {', '.join(map(str, list(value)[:5]))}"
        elif isinstance(value, list | tuple):
            text = f"a list of {len(value)} items"
        else:
            text = type(value).__name__
    return text


def readable_tag(tag: str | int) -> str:
    """A pydantic union-member tag in words (``constrained-int`` → ``int``)."""
    text = str(tag)
    for old, new in (("constrained-", ""), ("tagged-union[", "one of ["), ("function-after[", "")):
        text = text.replace(old, new)
    return text
