"""Parse a policy document (already-decoded JSON) into `runner.policy.ast` nodes.

The parser walks the real shape and collects *every* problem with its JSON path instead of
stopping at the first, so an LLM (or a person) can fix them all in one go. Missing node ids
are filled deterministically from the node's path.
"""

from __future__ import annotations

import math
from typing import Any

from runner.policy import ast as A
from runner.policy.fields import is_known_field

MAX_DEPTH = 100
TOP_KEYS = {"version", "policy_id", "description", "parameters", *A.TREES}
DOC_KEYS = {"description", "comment"}
STRING_ARGS = {"priority_flag", "reason", "rtgs_priority", "key"}
LIST_ARGS = {"focus_counterparties", "focus_cpty_list"}
ACTION_ARGS: dict[str, set[str]] = {
    "Release": {"priority_flag", "timed_for_tick"},
    "ReleaseWithCredit": {"priority_flag", "timed_for_tick"},
    "Hold": {"reason"},
    "Split": {"num_splits"},
    "PaceAndRelease": {"num_splits"},
    "StaggerSplit": {"num_splits", "stagger_first_now", "stagger_gap_ticks", "priority_boost_children"},
    "Reprioritize": {"new_priority"},
    "Drop": set(),
    "WithdrawFromRtgs": set(),
    "ResubmitToRtgs": {"rtgs_priority"},
    "NoAction": set(),
    "SetReleaseBudget": {
        "max_value_to_release", "focus_counterparties", "focus_cpty_list",
        "max_per_counterparty", "max_per_cpty",
    },
    "SetState": {"key", "value", "reason"},
    "AddState": {"key", "value", "reason"},
    "PostCollateral": {"amount", "reason", "auto_withdraw_after_ticks"},
    "WithdrawCollateral": {"amount", "reason"},
    "HoldCollateral": {"reason"},
}
REQUIRED_ARGS: dict[str, set[str]] = {
    "Split": {"num_splits"},
    "PaceAndRelease": {"num_splits"},
    "StaggerSplit": {"num_splits"},
    "Reprioritize": {"new_priority"},
    "SetReleaseBudget": {"max_value_to_release"},
    "SetState": {"key", "value"},
    "AddState": {"key", "value"},
    "PostCollateral": {"amount"},
    "WithdrawCollateral": {"amount"},
}


def _num(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x))


class _Parser:
    def __init__(self, params: dict[str, float]) -> None:
        self.errors: list[str] = []
        self.params = params
        self.node_ids: dict[str, str] = {}

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"{path}: {msg}")

    # ---- values
    def value(self, raw: Any, path: str, tree: str) -> A.Value:
        if not isinstance(raw, dict) or len(raw) != 1:
            self.err(path, "a value must be one of {field}, {param}, {value} or {compute}")
            return A.Const(0.0)
        (kind, arg), = raw.items()
        if kind == "field":
            if not isinstance(arg, str) or not is_known_field(arg, tree):
                where = "" if tree == "payment_tree" else f" in {tree}"
                self.err(f"{path}.field", f"{arg!r} is not a known field{where}")
            return A.FieldRef(str(arg))
        if kind == "param":
            if not isinstance(arg, str) or arg not in self.params:
                self.err(f"{path}.param", f"{arg!r} is not declared in parameters")
            return A.ParamRef(str(arg))
        if kind == "value":
            if isinstance(arg, bool):
                return A.Const(1.0 if arg else 0.0)
            if not _num(arg):
                self.err(f"{path}.value", f"must be a finite number, got {arg!r}")
                return A.Const(0.0)
            return A.Const(float(arg))
        if kind == "compute":
            return self.compute(arg, f"{path}.compute", tree)
        self.err(path, f"unknown value kind '{kind}' (use field, param, value or compute)")
        return A.Const(0.0)

    def compute(self, raw: Any, path: str, tree: str) -> A.Value:
        if not isinstance(raw, dict) or "op" not in raw:
            self.err(path, "a computation needs an 'op'")
            return A.Const(0.0)
        op = raw["op"]
        shapes: dict[str, tuple[str, ...]] = {
            **{o: ("left", "right") for o in A.BINARY_COMPUTE},
            **{o: ("values",) for o in A.LIST_COMPUTE},
            **{o: ("value",) for o in A.UNARY_COMPUTE},
            "clamp": ("value", "min", "max"),
            "div0": ("numerator", "denominator", "default"),
        }
        if op not in shapes:
            self.err(f"{path}.op", f"unknown computation {op!r}")
            return A.Const(0.0)
        keys = set(raw) - {"op"}
        if keys != set(shapes[op]):
            self.err(path, f"'{op}' takes {', '.join(shapes[op])}; got {', '.join(sorted(keys)) or 'nothing'}")
            return A.Const(0.0)
        sub = {k: raw[k] for k in shapes[op]}
        if op in A.BINARY_COMPUTE:
            left = self.value(sub["left"], f"{path}.left", tree)
            right = self.value(sub["right"], f"{path}.right", tree)
            if op == "/" and isinstance(right, A.Const) and abs(right.value) < 1e-12:
                self.err(f"{path}.right", "division by a literal zero")
            return A.Binary(op, left, right, path)
        if op in A.LIST_COMPUTE:
            vals = sub["values"]
            if not isinstance(vals, list) or not vals:
                self.err(f"{path}.values", "must be a non-empty list of values")
                return A.Const(0.0)
            return A.Nary(op, tuple(self.value(v, f"{path}.values[{i}]", tree) for i, v in enumerate(vals)))
        if op in A.UNARY_COMPUTE:
            return A.Unary(op, self.value(sub["value"], f"{path}.value", tree))
        if op == "clamp":
            return A.Clamp(*(self.value(sub[k], f"{path}.{k}", tree) for k in ("value", "min", "max")))
        return A.SafeDiv(*(self.value(sub[k], f"{path}.{k}", tree) for k in ("numerator", "denominator", "default")))

    # ---- conditions
    def condition(self, raw: Any, path: str, tree: str) -> A.Condition:
        if not isinstance(raw, dict) or "op" not in raw:
            self.err(path, "a condition needs an 'op'")
            return A.Compare("==", A.Const(0.0), A.Const(0.0))
        op = raw["op"]
        if op in A.COMPARISONS:
            if set(raw) != {"op", "left", "right"}:
                self.err(path, f"comparison '{op}' takes left and right")
                return A.Compare("==", A.Const(0.0), A.Const(0.0))
            return A.Compare(op, self.value(raw["left"], f"{path}.left", tree),
                             self.value(raw["right"], f"{path}.right", tree))
        if op in ("and", "or"):
            conds = raw.get("conditions")
            if set(raw) != {"op", "conditions"} or not isinstance(conds, list) or not conds:
                self.err(path, f"'{op}' takes a non-empty list 'conditions'")
                return A.Compare("==", A.Const(0.0), A.Const(0.0))
            parsed = tuple(self.condition(c, f"{path}.conditions[{i}]", tree) for i, c in enumerate(conds))
            return A.AllOf(parsed) if op == "and" else A.AnyOf(parsed)
        if op == "not":
            if set(raw) != {"op", "condition"}:
                self.err(path, "'not' takes one 'condition'")
                return A.Compare("==", A.Const(0.0), A.Const(0.0))
            return A.Negate(self.condition(raw["condition"], f"{path}.condition", tree))
        self.err(f"{path}.op", f"unknown operator {op!r}")
        return A.Compare("==", A.Const(0.0), A.Const(0.0))

    # ---- nodes
    def node(self, raw: Any, path: str, tree: str, depth: int) -> A.Node:
        fallback = A.ActionNode(node_id=path, action="NoAction")
        if depth > MAX_DEPTH:
            self.err(path, f"tree deeper than {MAX_DEPTH}")
            return fallback
        if not isinstance(raw, dict):
            self.err(path, "a node must be an object")
            return fallback
        node_id = raw.get("node_id")
        if node_id is None:
            node_id = path  # deterministic fill-in
        elif not isinstance(node_id, str) or not node_id:
            self.err(f"{path}.node_id", "must be a non-empty string")
            node_id = path
        if node_id in self.node_ids:
            self.err(f"{path}.node_id", f"duplicate node id '{node_id}' (also at {self.node_ids[node_id]})")
        self.node_ids[node_id] = path
        kind = raw.get("type")
        if kind == "condition":
            extra = set(raw) - {"type", "node_id", "condition", "on_true", "on_false"} - DOC_KEYS
            for key in sorted(extra):
                self.err(f"{path}.{key}", "unknown key in a condition node")
            for key in ("condition", "on_true", "on_false"):
                if key not in raw:
                    self.err(path, f"condition node needs '{key}'")
            if any(k not in raw for k in ("condition", "on_true", "on_false")):
                return fallback
            return A.ConditionNode(
                node_id,
                self.condition(raw["condition"], f"{path}.condition", tree),
                self.node(raw["on_true"], f"{path}.on_true", tree, depth + 1),
                self.node(raw["on_false"], f"{path}.on_false", tree, depth + 1),
            )
        if kind == "action":
            return self.action(raw, path, tree, node_id)
        self.err(f"{path}.type", f"must be 'condition' or 'action', got {kind!r}")
        return fallback

    def action(self, raw: dict[str, Any], path: str, tree: str, node_id: str) -> A.Node:
        action = raw.get("action")
        extra = set(raw) - {"type", "node_id", "action", "parameters", "hold_reason"} - DOC_KEYS
        for key in sorted(extra):
            self.err(f"{path}.{key}", "unknown key in an action node")
        if action not in A.ACTIONS_BY_TREE[tree]:
            self.err(f"{path}.action", f"{action!r} is not an action of {tree}")
            return A.ActionNode(node_id, "NoAction")
        raw_args = raw.get("parameters") or {}
        if not isinstance(raw_args, dict):
            self.err(f"{path}.parameters", "must be an object")
            raw_args = {}
        if "hold_reason" in raw:  # legacy SimCash spelling of Hold's reason
            raw_args = {"reason": raw["hold_reason"], **raw_args}
        args: dict[str, A.ActionArg] = {}
        for name, arg in raw_args.items():
            apath = f"{path}.parameters.{name}"
            if name not in ACTION_ARGS[action]:
                self.err(apath, f"'{action}' has no parameter '{name}'")
            elif name in STRING_ARGS:
                literal = arg.get("value") if isinstance(arg, dict) and set(arg) == {"value"} else arg
                if not isinstance(literal, str):
                    self.err(apath, "must be a literal string")
                else:
                    args[name] = literal
            elif name in LIST_ARGS:
                literal = arg.get("value") if isinstance(arg, dict) and set(arg) == {"value"} else arg
                if not isinstance(literal, list) or not all(isinstance(x, str) for x in literal):
                    self.err(apath, "must be a list of agent ids")
                else:
                    args[name] = tuple(literal)
            else:
                args[name] = self.value(arg, apath, tree)
        for name in sorted(REQUIRED_ARGS.get(action, set()) - set(args)):
            if not any(e.startswith(f"{path}.parameters.{name}") for e in self.errors):
                self.err(f"{path}.parameters", f"'{action}' needs '{name}'")
        key = args.get("key")
        if isinstance(key, str) and not key.startswith("bank_state_"):
            self.err(f"{path}.parameters.key", f"state keys must start with 'bank_state_', got {key!r}")
        return A.ActionNode(node_id, str(action), args)


def parse_policy(doc: Any) -> tuple[A.Policy | None, list[str]]:
    """Parse ``doc`` into a `Policy`; returns (policy or None, every structural error)."""
    if not isinstance(doc, dict):
        return None, ["(root): a policy must be a JSON object"]
    errors: list[str] = []
    for key in sorted(set(doc) - TOP_KEYS):
        errors.append(f"{key}: unknown top-level key")
    raw_params = doc.get("parameters") or {}
    params: dict[str, float] = {}
    if not isinstance(raw_params, dict):
        errors.append("parameters: must be an object of name: number")
    else:
        for name, value in raw_params.items():
            if not _num(value):
                errors.append(f"parameters.{name}: must be a finite number, got {value!r}")
            else:
                params[str(name)] = float(value)
    parser = _Parser(params)
    trees: dict[str, A.Node] = {}
    for tree in A.TREES:
        raw = doc.get(tree)
        if raw is not None:
            trees[tree] = parser.node(raw, tree, tree, 1)
    errors += parser.errors
    for key in ("version", "policy_id", "description"):
        if key in doc and not isinstance(doc[key], str | int | float):
            errors.append(f"{key}: must be a string")
    if errors:
        return None, errors
    policy = A.Policy(
        policy_id=str(doc.get("policy_id", "policy")),
        version=str(doc.get("version", "1.0")),
        description=str(doc.get("description", "")),
        parameters=params,
        trees=trees,
    )
    return policy, []
