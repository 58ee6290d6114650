"""`validate_policy`: every reason a policy cannot run under an experiment's constraints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.config_text import closest
from runner.errors import PolicyError
from runner.input_files import read_json
from runner.policy.constraints import ScenarioConstraints
from runner.policy.parse import parse_policy
from runner.policy.tree import Policy

NO_OP_ACTIONS = {"NoAction", "HoldCollateral"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _constraint_errors(doc: dict[str, Any], policy: Policy, constraints: ScenarioConstraints) -> list[str]:
    """Every way ``policy`` (parsed from ``doc``) breaks ``constraints``, with JSON paths."""
    errors: list[str] = []
    names = [p.name for p in constraints.allowed_parameters]
    for name, value in policy.parameters.items():
        spec = constraints.parameter(name)
        if spec is None:
            guess = closest(name, names)
            hint = f"did you mean '{guess}'?" if guess else f"allowed: {', '.join(names) or 'none'}"
            errors.append(f"parameters.{name}: not an allowed parameter in this experiment ({hint})")
            continue
        problem = spec.check(value)
        if problem:
            errors.append(f"parameters.{name}: {problem}")
    fields = sorted(constraints.allowed_fields)
    for tree in policy.trees:
        actions = constraints.actions_for(tree)
        for path, kind, name in _references(doc[tree], tree):
            if kind == "action" and actions is None:
                if name not in NO_OP_ACTIONS:
                    allowed = ", ".join(constraints.allowed_actions) or "none"
                    errors.append(f"{tree}: this tree is not allowed in this experiment (allowed trees: {allowed})")
                    break
            elif kind == "action" and actions is not None and name not in actions:
                errors.append(f"{path}: '{name}' is not allowed in this experiment (allowed: {', '.join(actions)})")
            elif kind == "field" and name not in fields:
                errors.append(
                    f"{path}: field '{name}' is not allowed in this experiment (allowed: {', '.join(fields) or 'none'})"
                )
    return list(dict.fromkeys(errors))


def _references(raw: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """(JSON path, "field" or "action", name) of every field read and action, in order."""
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            yield from _references(item, f"{path}[{i}]")
        return
    if not isinstance(raw, dict):
        return
    if set(raw) == {"field"}:
        yield f"{path}.field", "field", str(raw["field"])
        return
    if raw.get("type") == "action" and "action" in raw:
        yield f"{path}.action", "action", str(raw["action"])
    for key, value in raw.items():
        yield from _references(value, f"{path}.{key}")


def encoding_errors(doc: Any) -> list[str]:
    """Every text of ``doc`` (key or value) that cannot be encoded as UTF-8: a lone surrogate,
    which ``json.loads`` makes of ``"\\ud800"``. Such a policy could not be written to the
    event file or a Parquet table, so it is never accepted. Paths are shown ASCII-escaped."""
    errors: list[str] = []
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack and len(errors) < 20:
        value, path = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                errors.append(
                    f"{path or '(policy)'}: text that cannot be encoded as UTF-8 (a lone surrogate such as \\ud800)"
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{ascii(key)[1:-1]}" if path else ascii(key)[1:-1]
                if isinstance(key, str) and _SURROGATE.search(key):
                    errors.append(f"{where}: a key that cannot be encoded as UTF-8 (a lone surrogate)")
                stack.append((item, where))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
    return errors


def validate_policy(doc: Any, constraints: ScenarioConstraints | None = None) -> list[str]:
    """Every problem with ``doc``, each prefixed by its JSON path; empty when valid.

    Structural checks always run (shape, actions per tree, known fields, declared
    parameters, unique node ids, depth, literal division by zero); with ``constraints``,
    parameters must be allowed and within bounds, and fields and actions allowed.

    Example:
        >>> validate_policy({"payment_tree": {"type": "action", "action": "Release"}})
        []
    """
    unencodable = encoding_errors(doc)
    if unencodable:
        return unencodable
    policy, errors = parse_policy(doc)
    if policy is None:
        return errors
    return _constraint_errors(doc, policy, constraints) if constraints is not None else []


def parse_valid_policy(
    doc: Any, constraints: ScenarioConstraints | None = None, source: str | Path | None = None
) -> Policy:
    """Parse and validate ``doc``; raise `PolicyError` with every problem otherwise."""
    if unencodable := encoding_errors(doc):
        raise PolicyError(unencodable, source=source)
    policy, errors = parse_policy(doc)
    if policy is not None and constraints is not None:
        errors = _constraint_errors(doc, policy, constraints)
    if errors or policy is None:
        raise PolicyError(errors, source=source)
    return policy


def read_policy_file(path: Path) -> Any:
    """Decode a policy JSON file within the input bounds (`runner.input_files`).

    Raises:
        ConfigError: missing, not a regular file, too big, not UTF-8 or not bounded JSON.
    """
    return read_json(path)
