"""Frozen dataclasses ⇄ JSON-ready values, checked against the dataclass's field types.

One codec for every record paylab writes as JSON and reads back (the experiment's events,
`runner.proposals.LLMInteraction`): `to_json` turns a record into dicts, lists and scalars;
`from_json` turns them back into the record, checking each value against its annotation, so
a renamed or retyped field fails loudly where the data enters, not deep inside a reader.

Round trips are exact in both directions: ``from_json(cls, to_json(r)) == r``, and
``to_json(from_json(cls, d)) == d`` for every ``d`` it accepts. That is why it never
converts what it reads: an ``int`` in a ``float`` field stays an ``int`` (JSON wrote ``5``,
not ``5.0``, and writing it again must give the same bytes), and why a key the record does
not know is an error rather than silently dropped.

Supported annotations: ``bool``, ``int``, ``float`` (``int`` accepted), ``str``, a `StrEnum`,
``Any`` (taken as is: already JSON), ``X | None``, ``tuple[X, ...]`` (a JSON list),
``Mapping``/``dict[str, X]`` (a JSON object), and nested dataclasses. A field whose metadata
is `OMIT_DEFAULT` is left out of the JSON when it equals its default, and read back as its
default when absent (for fields added after streams were first written).
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

#: Field metadata: absent from the JSON when the value equals the field's default.
OMIT_DEFAULT: Mapping[str, bool] = types.MappingProxyType({"omit_default": True})


class RecordFormatError(ValueError):
    """A JSON value does not match the record it should describe.

    ``field`` is the dotted path of the offending value inside the record ("" for the
    record itself); the message says what must hold and what was received.
    """

    def __init__(self, message: str, field: str = "") -> None:
        self.message, self.field = message, field
        super().__init__(f"{field}: {message}" if field else message)

    def under(self, prefix: str) -> RecordFormatError:
        """The same error, its field inside ``prefix`` (``seeds`` + ``[2]`` → ``seeds[2]``)."""
        if not self.field:
            return RecordFormatError(self.message, prefix)
        return RecordFormatError(self.message, prefix + ("" if self.field.startswith("[") else ".") + self.field)


def to_json(value: Any) -> Any:
    """``value`` as dicts, lists and JSON scalars (a dataclass as a dict of its fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("omit_default") and item == _default(f):
                continue
            out[f.name] = to_json(item)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(cls: type[T], data: Any) -> T:
    """The ``cls`` record ``data`` describes; `RecordFormatError` naming the field if none does."""
    return _decode(cls, data)  # type: ignore[no-any-return]


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"field {f.name} is marked OMIT_DEFAULT but has no default")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _decode(tp: Any, value: Any) -> Any:
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return _decode_union(get_args(tp), value)
    if origin is tuple:
        return tuple(_items(get_args(tp)[0], value))
    if origin is list:
        return list(_items(get_args(tp)[0], value))
    if origin is dict or origin is Mapping:
        return _decode_mapping(get_args(tp)[1], value)
    if dataclasses.is_dataclass(tp):
        return _decode_record(tp, value)
    return _decode_scalar(tp, value)


def _decode_union(options: tuple[Any, ...], value: Any) -> Any:
    if value is None and type(None) in options:
        return None
    others = [t for t in options if t is not type(None)]
    if len(others) != 1:  # not needed by any record yet: say so instead of guessing
        raise TypeError(f"from_json supports only `X | None` unions, got {options}")
    return _decode(others[0], value)


def _items(tp: Any, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise RecordFormatError(f"must be a list, got {_show(value)}")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(_decode(tp, item))
        except RecordFormatError as exc:
            raise exc.under(f"[{i}]") from None
    return out


def _decode_mapping(tp: Any, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordFormatError(f"must be an object, got {_show(value)}")
    out = {}
    for key, item in value.items():
        try:
            out[key] = _decode(tp, item)
        except RecordFormatError as exc:
            raise exc.under(str(key)) from None
    return out


def _decode_record(cls: Any, value: Any) -> Any:
    if not isinstance(value, dict):
        raise RecordFormatError(f"must be an object, got {_show(value)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise RecordFormatError(f"unknown field(s) {', '.join(map(repr, unknown))} (written by a newer paylab?)")
    hints = _hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordFormatError("missing", name)
            continue
        try:
            kwargs[name] = _decode(hints[name], value[name])
        except RecordFormatError as exc:
            raise exc.under(name) from None
    return cls(**kwargs)


def _decode_scalar(tp: Any, value: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in tp)
            raise RecordFormatError(f"must be one of {allowed}, got {_show(value)}") from None
    if tp not in _SCALARS:
        raise TypeError(f"from_json does not support the annotation {tp!r}")
    accepted, name = _SCALARS[tp]
    if not isinstance(value, accepted) or (tp is not bool and isinstance(value, bool)):
        raise RecordFormatError(f"must be {name}, got {_show(value)}")
    return value


# What each scalar annotation accepts from JSON (``bool`` is an ``int`` in Python: excluded
# from the numbers above), and how a message names it.
_SCALARS: dict[Any, tuple[type | tuple[type, ...], str]] = {
    bool: (bool, "true or false"),
    int: (int, "an integer"),
    float: ((int, float), "a number"),
    str: (str, "a string"),
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
