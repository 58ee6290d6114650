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
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ValidationError

from runner.errors import ConfigError

Loc = tuple[str | int, ...]

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
_DISCRIMINATORS = ("type", "mode")
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
    model = model or _model_named(exc.title)
    path, message, covered = _describe(errors, model)
    others: list[str] = []
    remaining = _without(errors, covered)
    while remaining:  # locate every further problem the same way (union noise dropped)
        other, _, covered = _describe(remaining, model)
        if other != path and other not in others:
            others.append(other)
        remaining = _without(remaining, covered)
    if others:
        shown = ", ".join(_join(prefix, p) or "(root)" for p in others[:3])
        message += f" (+{len(others)} more: {shown}{', …' if len(others) > 3 else ''})"
    return ConfigError(message, source=source, path=_join(prefix, path))


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
            names.update(_literal_values(obj, _DISCRIMINATORS))
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
        hint = "must be one of: " + ", ".join(_readable_tag(t) for t in branches)
    return _dotted(first.group), f"{hint}, got {show_value(value)}", group


def _fits(errs: list[_Err], base: int) -> bool:
    """Whether a union branch failed on details rather than on the kind of input."""
    for e in errs:
        sub = e.keys(base + 1)
        if e.type in _SHAPE_ERRORS and not sub:
            return False
        if e.type == "literal_error" and len(sub) == 1 and sub[0] in _DISCRIMINATORS:
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
    for key in _DISCRIMINATORS:
        expected = [
            str(e.raw.get("ctx", {}).get("expected", ""))
            for e in group
            if e.type == "literal_error" and e.keys(base + 1) == (key,)
        ]
        if expected:
            where = _dotted((*group[0].group, key))
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
        return _dotted(keys), _unknown_key(str(keys[-1]), _fields_at(model, e.loc[:-1]))
    if kind == "missing":
        return _dotted(keys), "required key is missing"
    if kind in ("value_error", "assertion_error"):
        return _validator_message(_dotted(keys), str(e.raw["msg"]))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        where = _join(_dotted(keys), str(ctx.get("discriminator", "'type'")).strip("'"))
        if kind == "union_tag_not_found":
            return where, "required key is missing"
        return where, f"must be one of {ctx.get('expected_tags')}, got {show_value(ctx.get('tag'))}"
    return _dotted(keys), f"{_requirement(kind, ctx, str(e.raw['msg']))}, got {show_value(value)}"


def _validator_message(where: str, msg: str) -> tuple[str, str]:
    """A custom validator's message; a leading relative path is moved into the location."""
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    match = _REL_PATH.match(msg)
    if match:
        return _join(where, match.group(1)), match.group(2)
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


# --------------------------------------------------------------------------- formatting


def _dotted(keys: Loc) -> str:
    out = ""
    for item in keys:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out


def _join(prefix: str, path: str) -> str:
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


def _readable_tag(tag: str | int) -> str:
    text = str(tag)
    for old, new in (("constrained-", ""), ("tagged-union[", "one of ["), ("function-after[", "")):
        text = text.replace(old, new)
    return text


# --------------------------------------------------------------------------- model lookup


def _model_named(title: str) -> type[BaseModel] | None:
    """The model class pydantic named in the error title, if it is unambiguous."""
    found: list[type[BaseModel]] = []
    stack = list(BaseModel.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__name__ == title and cls.__module__.startswith(("runner", "sweep")):
            found.append(cls)
    return found[0] if len(found) == 1 else None


def _fields_at(model: type[BaseModel] | None, loc: Loc) -> list[str] | None:
    """The keys the model at ``loc`` (under ``model``) accepts, when it can be resolved."""
    tp: Any = model
    try:
        for item in loc:
            tp = _step(_unwrap(tp), item)
            if tp is None:
                return None
        target = _unwrap(tp)
    except (TypeError, IndexError, KeyError, AttributeError):
        return None
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        return None
    return [f.alias or name for name, f in target.model_fields.items()]


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and ``| None``."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if _is_union(tp):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _step(tp: Any, item: str | int) -> Any:
    """The type found under ``item`` (a key, an index or a union tag) of type ``tp``."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fields = {f.alias or n: f for n, f in tp.model_fields.items()} | tp.model_fields
        return fields[item].annotation if item in fields else None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is tuple and isinstance(item, int):
        return args[min(item, len(args) - 1)]
    if origin in (list, tuple, dict):
        return args[-1]
    return _union_member(args, item) if _is_union(tp) else None


def _union_member(members: tuple[Any, ...], tag: str | int) -> Any:
    for member in members:
        m = _unwrap(member)
        if (
            isinstance(m, type)
            and issubclass(m, BaseModel)
            and (tag == m.__name__ or tag in _literal_values(m, _DISCRIMINATORS))
        ):
            return m
        if _is_union(m) and isinstance(tag, str) and tag.startswith("tagged-union"):
            return m
    return None


def _literal_values(cls: type[BaseModel], keys: tuple[str, ...]) -> set[str]:
    values: set[str] = set()
    for key in keys:
        field = cls.model_fields.get(key)
        if field is not None and typing.get_origin(field.annotation) is Literal:
            values.update(str(v) for v in typing.get_args(field.annotation))
    return values
