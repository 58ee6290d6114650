"""Hydra-style command-line overrides of a sweep file (``paylab sweep S.yaml KEY=VALUE …``).

Grammar (values are YAML scalars, as in experiment overrides):

* ``KEY=V`` — one value; ``KEY=V1,V2,…`` — a comma list; ``KEY=range(N)``,
  ``KEY=range(A,B)``, ``KEY=range(A,B,STEP)`` — integers as Python's `range` (at most
  `MAX_RANGE_VALUES` of them: a bigger range is refused before it is made);
  ``KEY=choice(V1,V2)`` — Hydra's explicit spelling of a comma list. Commas inside
  ``[…]``, ``{…}``, ``(…)`` or quotes, or escaped as ``\\,``, do not split.
* Sweep keys are set: ``name``, ``replicates``, ``baseline``, ``output`` (one value each),
  ``experiments`` (one path/glob or a comma list), ``grid``/``zip``/``limits`` (a whole
  YAML mapping), ``limits.<key>`` and ``limits.concurrency.<model pattern>``.
* ``grid.KEY=…`` and ``zip.KEY=…`` set one axis explicitly.
* Any other key is a dotted experiment-config key and becomes a grid axis (a single value
  is a one-value axis), replacing an axis of the same key or added after the file's axes.
  ``name`` and ``output`` exist in both files and mean the sweep's; vary the experiment's
  with ``grid.name=…``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ConfigError
from runner.scenario.loader import set_dotted

SCALAR_KEYS = ("name", "replicates", "baseline", "output")
MAPPING_KEYS = ("grid", "zip", "limits")
SWEEP_KEYS = ("name", "experiments", "grid", "zip", "replicates", "baseline", "limits", "output")
DOTTED_KEY = re.compile(r"^[A-Za-z_][\w-]*(?:\.[\w-]+)*$")
_INT = re.compile(r"^[+-]?\d+$")
_OPEN, _CLOSE = "([{", ")]}"
FORMS = "KEY=VALUE, KEY=V1,V2 or KEY=range(N)"
# A range() axis has at most this many values (range(10**12) would fill the memory before
# the sweep's cell limit, `sweep.expand.check_size`, could refuse it).
MAX_RANGE_VALUES = 1_000_000


@dataclass(frozen=True)
class Override:
    """One parsed command-line override.

    Attributes:
        key: the dotted key left of ``=``.
        values: the value(s) right of ``=``, parsed as YAML.
        several: given as a comma list, ``range()`` or ``choice()`` (even with one item).
    """

    key: str
    values: tuple[Any, ...]
    several: bool


def parse_override(item: str, source: str | Path | None = None) -> Override:
    """Parse ``KEY=VALUE`` / ``KEY=V1,V2`` / ``KEY=range(…)``; malformed ones are `ConfigError`s.

    Example:
        >>> parse_override("master_seed=range(2)")
        Override(key='master_seed', values=(0, 1), several=True)
    """
    where = f"override {item!r}"
    if "=" not in item:
        raise ConfigError(f"must look like {FORMS}", source=source, path=where)
    key, text = (part.strip() for part in item.split("=", 1))
    if not _valid_key(key):
        raise ConfigError(f"'{key}' is not a dotted key (must look like {FORMS})", source=source, path=where)
    if not text:
        raise ConfigError("empty value (write KEY=null for no value)", source=source, path=where)
    if text.startswith("range("):
        return Override(key, _range(text, source, where), several=True)
    several = False
    if text.startswith("choice(") and text.endswith(")"):
        text, several = text[len("choice(") : -1], True
    items = split_list(text)
    if any(not part.strip() for part in items):
        raise ConfigError(f"empty item in the comma list {text!r}", source=source, path=where)
    values = tuple(_scalar(part.strip(), source, where) for part in items)
    return Override(key, values, several=several or len(values) > 1)


def apply_sweep_overrides(
    raw: dict[str, Any], overrides: Sequence[str], source: str | Path | None = None
) -> dict[str, Any]:
    """A copy of the sweep mapping ``raw`` with ``overrides`` applied in order (see module doc)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        _apply(out, parse_override(item, source), item, source)
    return out


def split_list(text: str) -> list[str]:
    """Split ``text`` on top-level commas (not inside brackets or quotes, not ``\\,``)."""
    items, current, depth, quote = [], "", 0, ""
    chars = iter(text)
    for ch in chars:
        if ch == "\\" and not quote:
            current += next(chars, "\\")
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += ch
    items.append(current)
    return items


def _valid_key(key: str) -> bool:
    if key.startswith("limits.concurrency."):
        return bool(key[len("limits.concurrency.") :].strip())  # a model glob: any characters
    return bool(DOTTED_KEY.match(key))


def _scalar(text: str, source: str | Path | None, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", "") or exc).splitlines()[0]
        raise ConfigError(f"value {text!r} is not valid YAML ({problem})", source=source, path=where) from None


def _range(text: str, source: str | Path | None, where: str) -> tuple[int, ...]:
    inner = text[len("range(") : -1] if text.endswith(")") else None
    parts = [p.strip() for p in inner.split(",")] if inner is not None else []
    if not 1 <= len(parts) <= 3 or not all(_INT.match(p) for p in parts):
        raise ConfigError(
            f"range() takes 1 to 3 integers: range(N), range(START,STOP) or range(START,STOP,STEP), got {text!r}",
            source=source,
            path=where,
        )
    bounds = [int(p) for p in parts]
    if len(bounds) == 3 and bounds[2] == 0:
        raise ConfigError(f"range() step must not be 0, got {text!r}", source=source, path=where)
    span = range(*bounds)  # its length is known without making its values
    if not span:
        raise ConfigError(f"{text} is empty", source=source, path=where)
    if len(span) > MAX_RANGE_VALUES:
        raise ConfigError(f"{text} has {len(span):,} values, more than {MAX_RANGE_VALUES:,}", source=source, path=where)
    return tuple(span)


def _apply(out: dict[str, Any], ov: Override, item: str, source: str | Path | None) -> None:
    where = f"override {item!r}"
    head = ov.key.split(".", 1)[0]
    if ov.key == "experiments":
        out["experiments"] = list(ov.values)
    elif ov.key in SCALAR_KEYS or ov.key in MAPPING_KEYS or head == "limits":
        if ov.several:
            raise ConfigError(
                f"{ov.key} takes one value, got {len(ov.values)} (only experiment keys can be swept)",
                source=source,
                path=where,
            )
        if head == "limits" and ov.key != "limits":
            _set_limit(out, ov.key[len("limits.") :], ov.values[0], source, where)
        else:
            out[ov.key] = ov.values[0]
    elif head in ("grid", "zip") and "." in ov.key:
        _set_axis(out, head, ov.key.split(".", 1)[1], list(ov.values), source=source, where=where)
    else:
        _set_axis(out, "grid", ov.key, list(ov.values), source=source, where=where)


def _set_limit(out: dict[str, Any], key: str, value: Any, source: str | Path | None, where: str) -> None:
    limits = _section(out, "limits", source, where)
    if key.startswith("concurrency."):
        # A model pattern may contain dots (openai/gpt-4.1*): it is one key, not a path.
        block = _section(limits, "concurrency", source, where)
        block[key[len("concurrency.") :]] = value
    else:
        set_dotted(limits, key, value, source=source)


def _set_axis(
    out: dict[str, Any], section: str, key: str, values: list[Any], *, source: str | Path | None, where: str
) -> None:
    other = "zip" if section == "grid" else "grid"
    if key in (out.get(other) or {}):
        raise ConfigError(f"'{key}' is varied in {other}; override it as {other}.{key}=…", source=source, path=where)
    _section(out, section, source, where)[key] = values


def _section(out: dict[str, Any], key: str, source: str | Path | None, where: str) -> dict[str, Any]:
    block = out.get(key)
    if block is None:
        block = out[key] = {}
    if not isinstance(block, dict):
        raise ConfigError(f"cannot set a key inside {key}: it is not a mapping in the file", source=source, path=where)
    return block
