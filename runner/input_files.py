"""Read every input file paylab takes — scenario, policy, experiment, sweep, prompt — within bounds.

One reading path for all of them, so each bound holds everywhere (`docs/limits.md`):

* only regular files are read: a directory, a FIFO, a device or a socket is refused before a
  byte is read (opened non-blocking, then checked with ``fstat``, so a FIFO cannot hang us);
* at most `MAX_FILE_BYTES` are read, and the text must be UTF-8;
* YAML: a mapping may not repeat a key (PyYAML silently keeps the last one); aliases may not
  expand the document beyond what a file without them could hold — `MAX_NODES` values and
  `MAX_FILE_BYTES` characters of text once every alias is expanded — nor refer to themselves;
* JSON: the same, plus no ``NaN``/``Infinity``, no number too large for a float, no integer
  beyond int64;
* nesting deeper than `MAX_NESTING` is refused (deeper structures exhaust Python's stack in
  every later walk over them).

Every problem is one `ConfigError` line naming the file; the message never quotes the file's
content (a path given by mistake, say ``/proc/self/environ``, is not echoed back).
`decode_json` is the same JSON decoder for text that is not a file (an LLM's reply).
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ConfigError

MAX_FILE_BYTES = 10 * 1024 * 1024  # 10 MiB: config files are kilobytes
MAX_NODES = 200_000  # values (mappings, lists, scalars) once aliases are expanded
MAX_NESTING = 200  # levels of mappings/lists
MAX_JSON_INT = 2**63 - 1

# libyaml's parser when available: same results, several times faster on big files.
_YAML_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class InputError(ValueError):
    """A problem with decoded text, without the file name (the caller adds it)."""


# --------------------------------------------------------------------------- files


def read_text(path: str | Path) -> str:
    """The UTF-8 text of the regular file ``path`` (at most `MAX_FILE_BYTES`).

    Raises:
        ConfigError: missing, not a regular file, unreadable, too big or not UTF-8.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConfigError("file not found", source=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", source=path) from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO without a writer on some systems
            raise ConfigError("is not a regular file (a FIFO, device or socket)", source=path) from None
        raise ConfigError(f"cannot read file ({exc.strerror})", source=path) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError("is a directory, not a file", source=path)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError("is not a regular file (a FIFO, device or socket)", source=path)
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"is {info.st_size:,} bytes; input files are limited to {MAX_FILE_BYTES:,} bytes", source=path
            )
        data = _read_at_most(fd, MAX_FILE_BYTES + 1)  # /proc files report size 0
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror})", source=path) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            f"is more than {MAX_FILE_BYTES:,} bytes; input files are limited to {MAX_FILE_BYTES:,} bytes", source=path
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not a UTF-8 text file (byte {exc.object[exc.start]:#04x} at offset {exc.start})", source=path
        ) from None


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- YAML


class _Loader(_YAML_BASE):  # type: ignore[misc,valid-type]
    """Safe YAML loading that refuses a key given twice in one mapping."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # ``<<: *defaults``: explicit keys may override merged ones
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | float | bool | None):
            raise InputError(f"a key at line {line} is {kind_of(key)}; keys must be plain values")
        if key in seen:
            raise InputError(
                f"duplicate key {_short(key)} at line {line} (first given at line {seen[key]}); give each key once"
            )
        seen[key] = line
    return loader.construct_mapping(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


def load_yaml_text(text: str) -> Any:
    """Decode YAML ``text`` within the bounds above.

    Raises:
        InputError: invalid YAML, a duplicate key, too large once aliases expand, too deep.
    """
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML{yaml_problem(exc)}") from None
    except RecursionError:
        raise InputError(f"nested more than {MAX_NESTING} levels deep") from None
    check_shape(data)
    return data


def yaml_problem(exc: yaml.YAMLError) -> str:
    """`` at line L column C: <problem> (<context> at line …)`` from a PyYAML error."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    cmark = getattr(exc, "context_mark", None)
    extra = ""
    if context and cmark is not None and (mark is None or cmark.line != mark.line):
        extra = f" ({context} at line {cmark.line + 1} column {cmark.column + 1})"
    return f"{where}: {problem}{extra}"


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping of keys (every config file's shape)."""
    try:
        data = load_yaml_text(read_text(path))
    except InputError as exc:
        raise ConfigError(str(exc), source=path) from None
    if data is None:
        raise ConfigError("the file is empty; expected a YAML mapping of keys", source=path)
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a YAML mapping of keys, got {kind_of(data)}", source=path)
    return data


def kind_of(value: Any) -> str:
    """What a value is, in words, without quoting it (``a list``, ``a text``, ``a number``)."""
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# --------------------------------------------------------------------------- JSON


def _no_constant(name: str) -> Any:
    raise InputError(f"{name} is not a number JSON allows; use a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"the number {_clip(text)} is too large for a float")
    return value


def _int64(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > 19 or abs(int(text)) > MAX_JSON_INT:
        raise InputError(f"the integer {_clip(text)} is beyond int64 (at most {MAX_JSON_INT})")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InputError(f"duplicate key {_short(key)} in one JSON object; give each key once")
        out[key] = value
    return out


def decode_json(text: str) -> Any:
    """Decode JSON ``text`` within the bounds above (duplicate keys, numbers, size, nesting).

    Raises:
        InputError: with a message that says where and what (never quoting more than a key).
    """
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_int64,
        )
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"invalid JSON: nested more than {MAX_NESTING} levels deep") from None
    check_shape(value)
    return value


def read_json(path: str | Path) -> Any:
    """Decode a JSON file within the bounds above; every problem is a one-line `ConfigError`."""
    try:
        return decode_json(read_text(path))
    except InputError as exc:
        raise ConfigError(str(exc), source=path) from None


# --------------------------------------------------------------------------- shape


def check_shape(value: Any) -> None:
    """Refuse a decoded document too deep, too large once shared parts are expanded, or cyclic.

    Shared sub-documents (YAML aliases) are measured once and counted at every use, so an
    alias bomb is measured in time proportional to its text, not to its expansion.

    Raises:
        InputError: which bound was passed.
    """
    sizes: dict[int, tuple[int, int, int]] = {}  # id → (values, characters, depth)
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, dict | list | tuple):
            continue
        key = id(node)
        if done:
            children = _children(node)
            nodes, chars, depth = 1, 0, 0
            for child in children:
                n, c, d = sizes[id(child)] if isinstance(child, dict | list | tuple) else _leaf(child)
                nodes, chars, depth = nodes + n, chars + c, max(depth, d)
            active.discard(key)
            sizes[key] = (nodes, chars, depth + 1)
            _check_bounds(*sizes[key])
            continue
        if key in sizes:
            continue
        if key in active:
            raise InputError("an alias refers to a value that contains it (a cycle)")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    if isinstance(value, dict | list | tuple):
        _check_bounds(*sizes[id(value)])


def _children(node: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> list[Any]:
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    return list(node)


def _leaf(value: Any) -> tuple[int, int, int]:
    return 1, len(value) if isinstance(value, str | bytes) else 0, 0


def _check_bounds(nodes: int, chars: int, depth: int) -> None:
    if depth > MAX_NESTING:
        raise InputError(f"nested more than {MAX_NESTING} levels deep")
    if nodes > MAX_NODES:
        raise InputError(f"holds more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?)")
    if chars > MAX_FILE_BYTES:
        raise InputError(
            f"holds more than {MAX_FILE_BYTES:,} characters of text once aliases are expanded (an alias bomb?)"
        )


def _short(key: Any) -> str:
    return repr(_clip(key)) if isinstance(key, str) else _clip(repr(key))


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
