"""Turn a parsed policy back into its JSON document (canonical form, node ids filled in)."""

from __future__ import annotations

import json
from typing import Any

from runner.policy.tree import (
    TREES,
    AllOf,
    AnyOf,
    Binary,
    Clamp,
    Compare,
    Condition,
    ConditionNode,
    Const,
    FieldRef,
    Nary,
    Node,
    ParamRef,
    Policy,
    Unary,
    Value,
)


def value_to_doc(v: Value) -> dict[str, Any]:
    if isinstance(v, FieldRef):
        return {"field": v.name}
    if isinstance(v, ParamRef):
        return {"param": v.name}
    if isinstance(v, Const):
        return {"value": v.value}
    if isinstance(v, Binary):
        return {"compute": {"op": v.op, "left": value_to_doc(v.left), "right": value_to_doc(v.right)}}
    if isinstance(v, Nary):
        return {"compute": {"op": v.op, "values": [value_to_doc(x) for x in v.values]}}
    if isinstance(v, Unary):
        return {"compute": {"op": v.op, "value": value_to_doc(v.value)}}
    if isinstance(v, Clamp):
        return {
            "compute": {
                "op": "clamp",
                "value": value_to_doc(v.value),
                "min": value_to_doc(v.lo),
                "max": value_to_doc(v.hi),
            }
        }
    return {
        "compute": {
            "op": "div0",
            "numerator": value_to_doc(v.numerator),
            "denominator": value_to_doc(v.denominator),
            "default": value_to_doc(v.default),
        }
    }


def condition_to_doc(c: Condition) -> dict[str, Any]:
    if isinstance(c, Compare):
        return {"op": c.op, "left": value_to_doc(c.left), "right": value_to_doc(c.right)}
    if isinstance(c, AllOf | AnyOf):
        return {
            "op": "and" if isinstance(c, AllOf) else "or",
            "conditions": [condition_to_doc(x) for x in c.conditions],
        }
    return {"op": "not", "condition": condition_to_doc(c.condition)}


def node_to_doc(n: Node) -> dict[str, Any]:
    if isinstance(n, ConditionNode):
        return {
            "type": "condition",
            "node_id": n.node_id,
            "condition": condition_to_doc(n.condition),
            "on_true": node_to_doc(n.on_true),
            "on_false": node_to_doc(n.on_false),
        }
    doc: dict[str, Any] = {"type": "action", "node_id": n.node_id, "action": n.action}
    if n.args:
        doc["parameters"] = {
            k: ({"value": v} if isinstance(v, str) else list(v) if isinstance(v, tuple) else value_to_doc(v))
            for k, v in n.args.items()
        }
    return doc


def policy_to_doc(policy: Policy) -> dict[str, Any]:
    """The JSON document of ``policy`` (parses back to an equal policy)."""
    doc: dict[str, Any] = {"version": policy.version, "policy_id": policy.policy_id}
    if policy.description:
        doc["description"] = policy.description
    doc["parameters"] = dict(policy.parameters)
    for tree in TREES:
        if tree in policy.trees:
            doc[tree] = node_to_doc(policy.trees[tree])
    return doc


def policy_json(policy: Policy) -> str:
    """Canonical compact JSON text of ``policy`` (sorted keys): stable for hashing and storage."""
    return json.dumps(policy_to_doc(policy), sort_keys=True, separators=(",", ":"))
