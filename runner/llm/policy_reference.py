"""The system prompt's reference of the policy language, restricted to one scenario's constraints.

The "Policy format" section: the parameters a policy may set (with their bounds), the context
fields it may read, the trees it may contain with their actions, and the forms of nodes,
conditions and values. Only what the constraints allow is described; the wording of the
language itself is `runner.llm.policy_docs`. `format_number` is how every prompt shows a
number that is not money (a bound, a rate, a parameter's value).
"""

from __future__ import annotations

from runner.llm.policy_docs import (
    CONDITION_FORMS,
    NODE_FORMS,
    PARAMETER_DOCS,
    VALUE_KINDS,
    action_doc,
    field_doc,
    tree_doc,
)
from runner.policy.constraints import ParameterSpec, ScenarioConstraints
from runner.policy.tree import TREES


def format_number(x: float) -> str:
    """``x`` in its shortest form: ``0.1``, ``5``, ``1e-05``."""
    return f"{x:g}"


def _parameter_line(spec: ParameterSpec) -> str:
    if spec.param_type == "enum":
        bounds = f"one of {', '.join(str(v) for v in spec.allowed_values or [])}"
    elif spec.min_value is not None and spec.max_value is not None:
        bounds = f"{format_number(spec.min_value)} to {format_number(spec.max_value)}"
    elif spec.min_value is not None:
        bounds = f">= {format_number(spec.min_value)}"
    elif spec.max_value is not None:
        bounds = f"<= {format_number(spec.max_value)}"
    else:
        bounds = "any number"
    doc = spec.description or PARAMETER_DOCS.get(spec.name, "")
    line = f"- {spec.name} ({spec.param_type}, {bounds})"
    return f"{line}: {doc}" if doc else line


def policy_format_section(constraints: ScenarioConstraints) -> list[str]:
    lines = [
        "## Policy format",
        "",
        'A policy is one JSON object with "version", "policy_id", "parameters" '
        "(name -> number) and one decision tree per allowed tree name. Inside a policy, "
        "money is in cents ($1.00 = 100).",
        "",
        "### Parameters",
    ]
    if constraints.allowed_parameters:
        lines += [_parameter_line(p) for p in constraints.allowed_parameters]
    else:
        lines.append('- none: "parameters" must be empty')
    lines += ["", '### Context fields (read with {"field": NAME})']
    if constraints.allowed_fields:
        lines += [f"- {field_doc(name)}" for name in constraints.allowed_fields]
    else:
        lines.append("- none: conditions may only use parameters and constants")
    lines += ["", "### Trees and their actions (no other tree may appear)"]
    for tree in TREES:
        actions = constraints.actions_for(tree)
        if actions is None:
            continue
        lines.append(f"- {tree}: {tree_doc(tree, actions)}. Actions:")
        lines += [f"  - {action_doc(action)}" for action in actions]
    lines += ["", "### Nodes, conditions and values", "Nodes:"]
    lines += [f"- {form}" for form in NODE_FORMS]
    lines.append("Conditions (C):")
    lines += [f"- {form}" for form in CONDITION_FORMS]
    lines.append("Values (V):")
    lines += [f"- {form}" for form in VALUE_KINDS]
    lines.append('Text action parameters are written {"value": "text"}.')
    return lines
