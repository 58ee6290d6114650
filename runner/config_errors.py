"""Turn a pydantic `ValidationError` into one readable `ConfigError` line.

The line has the shape ``<file>: <dotted.path>: <what must hold>, got <value>``:

- the path is built from the error location without pydantic's union-member tags
  (``constrained-int``, ``FixedPenalty``, ``tagged-union[…]``, discriminator values);
- for a union (``int | FixedPenalty | RatePenalty``) the branch the input was meant for is
  reported (``{mode: rate}`` without ``bps_per_event`` → ``….bps_per_event: required key is
  missing``), and when no branch fits, one sentence names every accepted form;
- pydantic's wording is replaced by "must be …" phrases, unknown keys get a "did you mean"
  or the list of allowed keys;
- a validator message may start with a path relative to where it ran
  (``"max: must be >= min (500), got 200"``); that path is appended to the location;
- further problems are only counted and located: ``(+2 more: a.b, c[0].d)``.

Dotted paths, value renderings and "did you mean" are `runner.config_text`; the keys a model
accepts at a location are `runner.config_fields`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runner.config_fields import DISCRIMINATORS, fields_at, literal_values, model_named
from runner.config_text import Loc, closest, dotted, join_path, readable_tag, show_value
from runner.errors import ConfigError

_NO_DATA = object()
_SHAPE_ERRORS = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "float_type",
    "float_parsing",
    "bool_type",
    "bool_parsing",
    "string_type",
    "list_type",
    "tuple_type",
    "dict_type",
    "model_type",
    "model_attributes_type",
    "is_instance_of",
}
# Accepted forms of the union fields of paylab's config models, by a member's name.
_UNION_HINTS = (
    (
        "FixedPenalty",
        "must be an integer number of cents or {mode: fixed, amount: CENTS} or {mode: rate, bps_per_event: BPS}",
    ),
    ("FixedPriority", "must be an integer 0..10 or {type: Fixed|Categorical|Uniform, …}"),
)
_PLAIN = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "finite_number": "must be a finite number",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}
_REL_PATH = re.compile(r"^([A-Za-z_][\w-]*(?:\[\d+\])*(?:\.[\w-]+(?:\[\d+\])*)*): (.+)$", re.S)


def pydantic_error(
    exc: ValidationError,
    source: str | Path | None,
    prefix: str = "",
    *,
    data: Any = _NO_DATA,
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """The first problem of ``exc`` as a one-line `ConfigError` with a dotted path.

    Args:
        exc: the validation error.
        source: the file the data came from (first part of the line).
        prefix: dotted path the validated data sits under in that file.
        data: the validated input, if available: it tells keys from union tags exactly.
        model: the validated model class (default: looked up by ``exc.title``), used to
            suggest the right spelling of an unknown key.
    """
    errors = [_Err(e, data) for e in exc.errors()]
    if not errors:
        return ConfigError("invalid value", source=source, path=prefix)
    model = model or model_named(exc.title)
    path, message, covered = _describe(errors, model)
    others: list[str] = []
    remaining = _without(errors, covered)
    while remaining:  # locate every further problem the same way (union noise dropped)
        other, _, covered = _describe(remaining, model)
        if other != path and other not in others:
            others.append(other)
        remaining = _without(remaining, covered)
    if others:
        shown = ", ".join(join_path(prefix, p) or "(root)" for p in others[:3])
        message += f" (+{len(others)} more: {shown}{', …' if len(others) > 3 else ''})"
    return ConfigError(message, source=source, path=join_path(prefix, path))


class _Err:
    """One pydantic error with its location split into real keys and union tags."""

    def __init__(self, raw: Any, data: Any) -> None:
        self.raw = raw
        self.type: str = raw["type"]
        self.loc: Loc = tuple(raw["loc"])
        self.tags = _tag_flags(self.loc, data, last_is_key=self.type == "missing")
        self.first_tag = self.tags.index(True) if True in self.tags else None
        cut = len(self.loc) if self.first_tag is None else self.first_tag
        self.group: Loc = self.loc[:cut]

    def keys(self, start: int = 0) -> Loc:
        pairs = zip(self.loc[start:], self.tags[start:], strict=True)
        return tuple(x for x, tag in pairs if not tag)


def _tag_flags(loc: Loc, data: Any, last_is_key: bool) -> list[bool]:
    """Which items of ``loc`` are union-member tags rather than keys or list indices."""
    flags: list[bool] = []
    node = data
    for i, item in enumerate(loc):
        if isinstance(item, int):
            flags.append(False)
            node = node[item] if isinstance(node, list | tuple) and item < len(node) else _NO_DATA
            continue
        if data is _NO_DATA:
            flags.append(_looks_like_tag(item))
            continue
        if isinstance(node, dict) and item in node:
            flags.append(False)
            node = node[item]
        else:  # not in the input: a missing key (last) or a tag naming a union member
            flags.append(not (last_is_key and i == len(loc) - 1))
    return flags


def _looks_like_tag(item: str) -> bool:
    if "[" in item or item.startswith(("constrained-", "function-", "lax-", "json-or-python")):
        return True
    return item in _tag_names()


def _tag_names() -> set[str]:
    from runner.scenario import models

    names = {"int", "float", "str", "bool", "list", "dict", "tuple", "none"}
    for obj in vars(models).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            names.add(obj.__name__)
            names.update(literal_values(obj, DISCRIMINATORS))
    return names


# --------------------------------------------------------------------------- describe


def _without(errors: list[_Err], covered: list[_Err]) -> list[_Err]:
    return [e for e in errors if all(e is not c for c in covered)]


def _describe(errors: list[_Err], model: type[BaseModel] | None) -> tuple[str, str, list[_Err]]:
    """(dotted path, message) of the first problem, and the errors that message covers.

    Errors of union branches the input was not written for are covered (noise); the other
    problems of the reported branch are not, so they are still counted as "more".
    """
    first = errors[0]
    if first.first_tag is None:
        return (*_plain(first, model), [first])
    base = first.first_tag
    group = [e for e in errors if e.first_tag == base and e.loc[:base] == first.loc[:base]]
    branches: dict[str | int, list[_Err]] = {}
    for e in group:
        branches.setdefault(e.loc[base], []).append(e)
    fitting = [errs for errs in branches.values() if _fits(errs, base)]
    if fitting:  # the branch the input was written for: report its own first problem
        chosen = fitting[0]
        noise = [e for e in group if all(e is not c for c in chosen)]
        return (*_plain(chosen[0], model), [chosen[0], *noise])
    value = first.raw.get("input")
    discriminator = _discriminator_problem(group, base, value)
    if discriminator:
        return (*discriminator, group)
    tags = " ".join(str(t) for t in branches)
    hint = next((text for name, text in _UNION_HINTS if name in tags), None)
    if hint is None:
        hint = "must be one of: " + ", ".join(readable_tag(t) for t in branches)
    return dotted(first.group), f"{hint}, got {show_value(value)}", group


def _fits(errs: list[_Err], base: int) -> bool:
    """Whether a union branch failed on details rather than on the kind of input."""
    for e in errs:
        sub = e.keys(base + 1)
        if e.type in _SHAPE_ERRORS and not sub:
            return False
        if e.type == "literal_error" and len(sub) == 1 and sub[0] in DISCRIMINATORS:
            return False
        if e.type in ("union_tag_invalid", "union_tag_not_found") and not sub:
            return False
    return True


def _discriminator_problem(group: list[_Err], base: int, value: Any) -> tuple[str, str] | None:
    """``mode: must be 'fixed' or 'rate', got 'percent'`` when every branch rejected the tag."""
    if not isinstance(value, dict):
        return None
    for e in group:
        if e.type == "union_tag_invalid" and not e.keys(base + 1):
            return _plain(e, None)
    for key in DISCRIMINATORS:
        expected = [
            str(e.raw.get("ctx", {}).get("expected", ""))
            for e in group
            if e.type == "literal_error" and e.keys(base + 1) == (key,)
        ]
        if expected:
            where = dotted((*group[0].group, key))
            if key not in value:
                return where, f"required key is missing (one of {' or '.join(expected)})"
            return where, f"must be {' or '.join(expected)}, got {show_value(value[key])}"
    return None


def _plain(e: _Err, model: type[BaseModel] | None) -> tuple[str, str]:
    keys = e.keys()
    ctx = e.raw.get("ctx") or {}
    value = e.raw.get("input")
    kind = e.type
    if kind == "extra_forbidden":
        return dotted(keys), _unknown_key(str(keys[-1]), fields_at(model, e.loc[:-1]))
    if kind == "missing":
        return dotted(keys), "required key is missing"
    if kind in ("value_error", "assertion_error"):
        return _validator_message(dotted(keys), str(e.raw["msg"]))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        where = join_path(dotted(keys), str(ctx.get("discriminator", "'type'")).strip("'"))
        if kind == "union_tag_not_found":
            return where, "required key is missing"
        return where, f"must be one of {ctx.get('expected_tags')}, got {show_value(ctx.get('tag'))}"
    return dotted(keys), f"{_requirement(kind, ctx, str(e.raw['msg']))}, got {show_value(value)}"


def _validator_message(where: str, msg: str) -> tuple[str, str]:
    """A custom validator's message; a leading relative path is moved into the location."""
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    match = _REL_PATH.match(msg)
    if match:
        return join_path(where, match.group(1)), match.group(2)
    return where, msg


def _requirement(kind: str, ctx: dict[str, Any], msg: str) -> str:
    """What must hold, in paylab's words, for a pydantic error type."""
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind in _BOUNDS:
        key, sign = _BOUNDS[kind]
        return f"must be {sign} {ctx.get(key)}"
    templates = {
        "literal_error": "must be {expected}",
        "too_short": "must have at least {min_length} item(s)",
        "too_long": "must have at most {max_length} item(s)",
        "string_too_short": "must not be empty",
    }
    if kind in templates:
        return templates[kind].format_map({k: str(v) for k, v in ctx.items()})
    msg = msg.split(", unable to")[0]
    return msg.replace("Input should be", "must be").replace("Value should be", "must be")


def _unknown_key(key: str, allowed: list[str] | None) -> str:
    if not allowed:
        return "unknown key"
    guess = closest(key, allowed)
    if guess:
        return f"unknown key (did you mean '{guess}'?)"
    return f"unknown key (allowed: {', '.join(allowed)})"
