"""Which keys a config model accepts at a location of its input, found from its type hints.

Used by `runner.config_errors` to suggest the right spelling of an unknown key: the model
pydantic named in the error is looked up (`model_named`), then followed key by key, through
lists, mappings, ``| None`` and union members (by class name or discriminator value), to
the model at the error's location (`fields_at`).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel

from runner.config_text import Loc

# The keys whose literal value tells the members of a tagged union apart.
DISCRIMINATORS = ("type", "mode")


def model_named(title: str) -> type[BaseModel] | None:
    """The model class pydantic named in the error title, if it is unambiguous."""
    found: list[type[BaseModel]] = []
    stack = list(BaseModel.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__name__ == title and cls.__module__.startswith(("runner", "sweep")):
            found.append(cls)
    return found[0] if len(found) == 1 else None


def fields_at(model: type[BaseModel] | None, loc: Loc) -> list[str] | None:
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
            and (tag == m.__name__ or tag in literal_values(m, DISCRIMINATORS))
        ):
            return m
        if _is_union(m) and isinstance(tag, str) and tag.startswith("tagged-union"):
            return m
    return None


def literal_values(cls: type[BaseModel], keys: tuple[str, ...]) -> set[str]:
    """The values ``cls`` allows for those of ``keys`` it declares as a ``Literal``."""
    values: set[str] = set()
    for key in keys:
        field = cls.model_fields.get(key)
        if field is not None and typing.get_origin(field.annotation) is Literal:
            values.update(str(v) for v in typing.get_args(field.annotation))
    return values
