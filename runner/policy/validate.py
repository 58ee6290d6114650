"""`validate_policy`: every reason a policy cannot run under an experiment's constraints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, PolicyError
from runner.policy import ast as A
from runner.policy.constraints import ScenarioConstraints
from runner.policy.parse import parse_policy

NO_OP_ACTIONS = {"NoAction", "HoldCollateral"}


def _constraint_errors(policy: A.Policy, constraints: ScenarioConstraints) -> list[str]:
    errors: list[str] = []
    for name, value in policy.parameters.items():
        spec = constraints.parameter(name)
        if spec is None:
            allowed = ", ".join(p.name for p in constraints.allowed_parameters) or "none"
            errors.append(f"parameters.{name}: not an allowed parameter (allowed: {allowed})")
            continue
        problem = spec.check(value)
        if problem:
            errors.append(f"parameters.{name}: {problem}")
    allowed_fields = set(constraints.allowed_fields)
    for tree, root in policy.trees.items():
        allowed_actions = constraints.actions_for(tree)
        for node in A.iter_nodes(root):
            if isinstance(node, A.ActionNode):
                if allowed_actions is None and node.action not in NO_OP_ACTIONS:
                    errors.append(f"{tree}: this tree is not allowed in this experiment")
                    break
                if allowed_actions is not None and node.action not in allowed_actions:
                    errors.append(
                        f"{tree}[{node.node_id}].action: '{node.action}' is not allowed "
                        f"(allowed: {', '.join(allowed_actions)})"
                    )
            for value in A.node_values(node):
                if isinstance(value, A.FieldRef) and value.name not in allowed_fields:
                    errors.append(
                        f"{tree}[{node.node_id}]: field '{value.name}' is not allowed "
                        f"(allowed: {', '.join(sorted(allowed_fields)) or 'none'})"
                    )
    return list(dict.fromkeys(errors))


def validate_policy(doc: Any, constraints: ScenarioConstraints | None = None) -> list[str]:
    """Every problem with ``doc``, each prefixed by its JSON path; empty when valid.

    Structural checks always run (shape, actions per tree, known fields, declared
    parameters, unique node ids, depth, literal division by zero); with ``constraints``,
    parameters must be allowed and within bounds, and fields and actions allowed.

    Example:
        >>> validate_policy({"payment_tree": {"type": "action", "action": "Release"}})
        []
    """
    policy, errors = parse_policy(doc)
    if policy is None:
        return errors
    return _constraint_errors(policy, constraints) if constraints is not None else []


def parse_valid_policy(doc: Any, constraints: ScenarioConstraints | None = None,
                       source: str | Path | None = None) -> A.Policy:
    """Parse and validate ``doc``; raise `PolicyError` with every problem otherwise."""
    policy, errors = parse_policy(doc)
    if policy is not None and constraints is not None:
        errors = _constraint_errors(policy, constraints)
    if errors or policy is None:
        raise PolicyError(errors, source=source)
    return policy


def read_policy_file(path: Path) -> Any:
    """Decode a policy JSON file; a missing or malformed file is a `ConfigError`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read policy file ({exc.strerror})", source=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                          source=path) from None
