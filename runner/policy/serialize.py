"""Turn a parsed policy back into its JSON document (canonical form, node ids filled in)."""

from __future__ import annotations

import json
from typing import Any

from runner.policy import ast as A


def value_to_doc(v: A.Value) -> dict[str, Any]:
    if isinstance(v, A.FieldRef):
        return {"field": v.name}
    if isinstance(v, A.ParamRef):
        return {"param": v.name}
    if isinstance(v, A.Const):
        return {"value": v.value}
    if isinstance(v, A.Binary):
        return {"compute": {"op": v.op, "left": value_to_doc(v.left), "right": value_to_doc(v.right)}}
    if isinstance(v, A.Nary):
        return {"compute": {"op": v.op, "values": [value_to_doc(x) for x in v.values]}}
    if isinstance(v, A.Unary):
        return {"compute": {"op": v.op, "value": value_to_doc(v.value)}}
    if isinstance(v, A.Clamp):
        return {"compute": {"op": "clamp", "value": value_to_doc(v.value),
                            "min": value_to_doc(v.lo), "max": value_to_doc(v.hi)}}
    return {"compute": {"op": "div0", "numerator": value_to_doc(v.numerator),
                        "denominator": value_to_doc(v.denominator), "default": value_to_doc(v.default)}}


def condition_to_doc(c: A.Condition) -> dict[str, Any]:
    if isinstance(c, A.Compare):
        return {"op": c.op, "left": value_to_doc(c.left), "right": value_to_doc(c.right)}
    if isinstance(c, A.AllOf | A.AnyOf):
        return {"op": "and" if isinstance(c, A.AllOf) else "or",
                "conditions": [condition_to_doc(x) for x in c.conditions]}
    return {"op": "not", "condition": condition_to_doc(c.condition)}


def node_to_doc(n: A.Node) -> dict[str, Any]:
    if isinstance(n, A.ConditionNode):
        return {"type": "condition", "node_id": n.node_id, "condition": condition_to_doc(n.condition),
                "on_true": node_to_doc(n.on_true), "on_false": node_to_doc(n.on_false)}
    doc: dict[str, Any] = {"type": "action", "node_id": n.node_id, "action": n.action}
    if n.args:
        doc["parameters"] = {
            k: ({"value": v} if isinstance(v, str) else list(v) if isinstance(v, tuple) else value_to_doc(v))
            for k, v in n.args.items()
        }
    return doc


def policy_to_doc(policy: A.Policy) -> dict[str, Any]:
    """The JSON document of ``policy`` (parses back to an equal policy)."""
    doc: dict[str, Any] = {"version": policy.version, "policy_id": policy.policy_id}
    if policy.description:
        doc["description"] = policy.description
    doc["parameters"] = dict(policy.parameters)
    for tree in A.TREES:
        if tree in policy.trees:
            doc[tree] = node_to_doc(policy.trees[tree])
    return doc


def policy_json(policy: A.Policy) -> str:
    """Canonical compact JSON text of ``policy`` (sorted keys): stable for hashing and storage."""
    return json.dumps(policy_to_doc(policy), sort_keys=True, separators=(",", ":"))
