"""Parse a policy document (already-decoded JSON) into `runner.policy.tree` nodes.

The parser walks the real shape and collects *every* problem with its JSON path instead of
stopping at the first, so an LLM (or a person) can fix them all in one go. Missing node ids
are filled deterministically from the node's path.
"""

from __future__ import annotations

import math
from typing import Any

from runner.config_text import closest, show_value
from runner.policy.fields import BANK_FIELDS, TX_FIELDS, is_known_field
from runner.policy.tree import (
    ACTIONS_BY_TREE,
    BINARY_COMPUTE,
    COMPARISONS,
    LIST_COMPUTE,
    TREES,
    UNARY_COMPUTE,
    ActionArg,
    ActionNode,
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
    Negate,
    Node,
    ParamRef,
    Policy,
    SafeDiv,
    Unary,
    Value,
)

MAX_DEPTH = 100
TOP_KEYS = {"version", "policy_id", "description", "parameters", *TREES}
DOC_KEYS = {"description", "comment"}
STRING_ARGS = {"priority_flag", "reason", "rtgs_priority", "key"}
LIST_ARGS = {"focus_counterparties", "focus_cpty_list"}
ACTION_ARGS: dict[str, set[str]] = {
    "Release": {"priority_flag", "timed_for_tick"},
    "ReleaseWithCredit": {"priority_flag", "timed_for_tick"},
    "Hold": {"reason"},
    "Split": {"num_splits"},
    "PaceAndRelease": {"num_splits"},
    "StaggerSplit": {
        "num_splits",
        "stagger_first_now",
        "stagger_gap_ticks",
        "priority_boost_children",
    },
    "Reprioritize": {"new_priority"},
    "Drop": set(),
    "WithdrawFromRtgs": set(),
    "ResubmitToRtgs": {"rtgs_priority"},
    "NoAction": set(),
    "SetReleaseBudget": {
        "max_value_to_release",
        "focus_counterparties",
        "focus_cpty_list",
        "max_per_counterparty",
        "max_per_cpty",
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


def _hint(word: object, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for a likely typo of one of ``choices``, else ``""``."""
    guess = closest(word, choices)
    return f" (did you mean '{guess}'?)" if guess else ""


COMPUTE_OPS = (*BINARY_COMPUTE, *LIST_COMPUTE, *UNARY_COMPUTE, "clamp", "div0")
CONDITION_OPS = (*COMPARISONS, "and", "or", "not")


class _Parser:
    def __init__(self, params: dict[str, float]) -> None:
        self.errors: list[str] = []
        self.params = params
        self.node_ids: dict[str, str] = {}

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"{path}: {msg}")

    # ---- values
    def value(self, raw: Any, path: str, tree: str) -> Value:
        if not isinstance(raw, dict) or len(raw) != 1:
            self.err(
                path, f"a value must be one of {{field}}, {{param}}, {{value}} or {{compute}}, got {show_value(raw)}"
            )
            return Const(0.0)
        ((kind, arg),) = raw.items()
        if kind == "field":
            if not isinstance(arg, str) or not is_known_field(arg, tree):
                if tree != "payment_tree" and arg in TX_FIELDS:
                    reason = f"{arg!r} is a payment field, not available in {tree}"
                else:
                    known = TX_FIELDS | BANK_FIELDS if tree == "payment_tree" else BANK_FIELDS
                    where = "" if tree == "payment_tree" else f" in {tree}"
                    reason = f"{arg!r} is not a known field{where}{_hint(arg, sorted(known))}"
                self.err(f"{path}.field", reason)
            return FieldRef(str(arg))
        if kind == "param":
            if not isinstance(arg, str) or arg not in self.params:
                declared = ", ".join(self.params) or "none"
                self.err(f"{path}.param", f"{arg!r} is not declared in parameters (declared: {declared})")
            return ParamRef(str(arg))
        if kind == "value":
            if isinstance(arg, bool):
                return Const(1.0 if arg else 0.0)
            if not _num(arg):
                self.err(f"{path}.value", f"must be a finite number, got {arg!r}")
                return Const(0.0)
            return Const(float(arg))
        if kind == "compute":
            return self.compute(arg, f"{path}.compute", tree)
        self.err(path, f"unknown value kind {kind!r} (use field, param, value or compute)")
        return Const(0.0)

    def compute(self, raw: Any, path: str, tree: str) -> Value:
        if not isinstance(raw, dict):
            self.err(path, f"a computation must be an object with an 'op', got {show_value(raw)}")
            return Const(0.0)
        if "op" not in raw:
            self.err(f"{path}.op", f"required key is missing (one of {', '.join(COMPUTE_OPS)})")
            return Const(0.0)
        op = raw["op"]
        shapes: dict[str, tuple[str, ...]] = {
            **dict.fromkeys(BINARY_COMPUTE, ("left", "right")),
            **dict.fromkeys(LIST_COMPUTE, ("values",)),
            **dict.fromkeys(UNARY_COMPUTE, ("value",)),
            "clamp": ("value", "min", "max"),
            "div0": ("numerator", "denominator", "default"),
        }
        if op not in shapes:
            self.err(f"{path}.op", f"unknown computation {show_value(op)} (use {', '.join(COMPUTE_OPS)})")
            return Const(0.0)
        keys = set(raw) - {"op"}
        if keys != set(shapes[op]):
            got = ", ".join(sorted(keys)) or "nothing"
            self.err(path, f"'{op}' takes {', '.join(shapes[op])}, got {got}")
            return Const(0.0)
        sub = {k: raw[k] for k in shapes[op]}
        if op in BINARY_COMPUTE:
            left = self.value(sub["left"], f"{path}.left", tree)
            right = self.value(sub["right"], f"{path}.right", tree)
            if op == "/" and isinstance(right, Const) and abs(right.value) < 1e-12:
                self.err(f"{path}.right", "division by a literal zero")
            return Binary(op, left, right, path)
        if op in LIST_COMPUTE:
            vals = sub["values"]
            if not isinstance(vals, list) or not vals:
                self.err(f"{path}.values", "must be a non-empty list of values")
                return Const(0.0)
            items = (self.value(v, f"{path}.values[{i}]", tree) for i, v in enumerate(vals))
            return Nary(op, tuple(items))
        if op in UNARY_COMPUTE:
            return Unary(op, self.value(sub["value"], f"{path}.value", tree))
        parts = [self.value(sub[k], f"{path}.{k}", tree) for k in shapes[op]]
        return Clamp(*parts) if op == "clamp" else SafeDiv(*parts)

    # ---- conditions
    def condition(self, raw: Any, path: str, tree: str) -> Condition:
        if not isinstance(raw, dict) or "op" not in raw:
            if isinstance(raw, dict):
                self.err(f"{path}.op", f"required key is missing (one of {', '.join(CONDITION_OPS)})")
            else:
                self.err(path, f"a condition must be an object with an 'op', got {show_value(raw)}")
            return Compare("==", Const(0.0), Const(0.0))
        op = raw["op"]
        if op in COMPARISONS:
            if set(raw) != {"op", "left", "right"}:
                got = ", ".join(sorted(set(raw) - {"op"})) or "nothing"
                self.err(path, f"comparison '{op}' takes left and right, got {got}")
                return Compare("==", Const(0.0), Const(0.0))
            return Compare(
                op, self.value(raw["left"], f"{path}.left", tree), self.value(raw["right"], f"{path}.right", tree)
            )
        if op in ("and", "or"):
            conds = raw.get("conditions")
            if set(raw) != {"op", "conditions"} or not isinstance(conds, list) or not conds:
                self.err(path, f"'{op}' takes a non-empty list 'conditions'")
                return Compare("==", Const(0.0), Const(0.0))
            parsed = tuple(self.condition(c, f"{path}.conditions[{i}]", tree) for i, c in enumerate(conds))
            return AllOf(parsed) if op == "and" else AnyOf(parsed)
        if op == "not":
            if set(raw) != {"op", "condition"}:
                self.err(path, "'not' takes one 'condition'")
                return Compare("==", Const(0.0), Const(0.0))
            return Negate(self.condition(raw["condition"], f"{path}.condition", tree))
        self.err(f"{path}.op", f"unknown operator {show_value(op)} (use {', '.join(CONDITION_OPS)})")
        return Compare("==", Const(0.0), Const(0.0))

    # ---- nodes
    def node(self, raw: Any, path: str, tree: str, depth: int) -> Node:
        fallback = ActionNode(node_id=path, action="NoAction")
        if depth > MAX_DEPTH:
            self.err(path, f"tree deeper than {MAX_DEPTH}")
            return fallback
        if not isinstance(raw, dict):
            self.err(path, f"a node must be an object, got {show_value(raw)}")
            return fallback
        node_id = self.node_id(raw, path)
        kind = raw.get("type")
        if kind == "condition":
            return self.condition_node(raw, path, tree, depth, node_id) or fallback
        if kind == "action":
            return self.action(raw, path, tree, node_id)
        if kind is None:
            self.err(f"{path}.type", "required key is missing (must be 'condition' or 'action')")
        else:
            self.err(f"{path}.type", f"must be 'condition' or 'action', got {show_value(kind)}")
        return fallback

    def node_id(self, raw: dict[str, Any], path: str) -> str:
        """The node's id (filled in from its path when absent), registered as unique."""
        node_id = raw.get("node_id")
        if node_id is None:
            node_id = path  # deterministic fill-in
        elif not isinstance(node_id, str) or not node_id:
            self.err(f"{path}.node_id", f"must be a non-empty string, got {show_value(node_id)}")
            node_id = path
        if node_id in self.node_ids:
            self.err(f"{path}.node_id", f"duplicate node id '{node_id}' (also at {self.node_ids[node_id]})")
        self.node_ids[node_id] = path
        return str(node_id)

    def condition_node(
        self, raw: dict[str, Any], path: str, tree: str, depth: int, node_id: str
    ) -> ConditionNode | None:
        extra = set(raw) - {"type", "node_id", "condition", "on_true", "on_false"} - DOC_KEYS
        for key in sorted(extra):
            self.err(f"{path}.{key}", "unknown key in a condition node")
        missing = [k for k in ("condition", "on_true", "on_false") if k not in raw]
        for key in missing:
            self.err(f"{path}.{key}", "required key of a condition node is missing")
        if missing:
            return None
        return ConditionNode(
            node_id,
            self.condition(raw["condition"], f"{path}.condition", tree),
            self.node(raw["on_true"], f"{path}.on_true", tree, depth + 1),
            self.node(raw["on_false"], f"{path}.on_false", tree, depth + 1),
        )

    def action(self, raw: dict[str, Any], path: str, tree: str, node_id: str) -> Node:
        action = raw.get("action")
        extra = set(raw) - {"type", "node_id", "action", "parameters", "hold_reason"} - DOC_KEYS
        for key in sorted(extra):
            self.err(f"{path}.{key}", "unknown key in an action node")
        if action not in ACTIONS_BY_TREE[tree]:
            self.err(f"{path}.action", _bad_action(action, tree))
            return ActionNode(node_id, "NoAction")
        raw_args = raw.get("parameters") or {}
        if not isinstance(raw_args, dict):
            self.err(f"{path}.parameters", f"must be an object, got {show_value(raw_args)}")
            raw_args = {}
        if "hold_reason" in raw:  # legacy SimCash spelling of Hold's reason
            raw_args = {"reason": raw["hold_reason"], **raw_args}
        args: dict[str, ActionArg] = {}
        for name, arg in raw_args.items():
            parsed = self.action_arg(str(action), name, arg, f"{path}.parameters.{name}", tree)
            if parsed is not None:
                args[name] = parsed
        for name in sorted(REQUIRED_ARGS.get(action, set()) - set(args)):
            if not any(e.startswith(f"{path}.parameters.{name}") for e in self.errors):
                self.err(f"{path}.parameters.{name}", f"required parameter of '{action}' is missing")
        state_key = args.get("key")
        if isinstance(state_key, str) and not state_key.startswith("bank_state_"):
            self.err(f"{path}.parameters.key", f"state keys must start with 'bank_state_', got {state_key!r}")
        return ActionNode(node_id, str(action), args)

    def action_arg(self, action: str, name: str, arg: Any, apath: str, tree: str) -> ActionArg | None:
        """One argument of an action, or None (with an error recorded) when it is invalid."""
        if name not in ACTION_ARGS[action]:
            takes = ", ".join(sorted(ACTION_ARGS[action])) or "none"
            self.err(apath, f"'{action}' has no parameter '{name}' (parameters: {takes})")
            return None
        if name not in STRING_ARGS and name not in LIST_ARGS:
            return self.value(arg, apath, tree)
        literal = arg.get("value") if isinstance(arg, dict) and set(arg) == {"value"} else arg
        if name in STRING_ARGS:
            if isinstance(literal, str):
                return literal
            self.err(apath, f"must be a literal string, got {show_value(arg)}")
            return None
        if isinstance(literal, list) and all(isinstance(x, str) for x in literal):
            return tuple(literal)
        self.err(apath, f"must be a list of agent ids, got {show_value(arg)}")
        return None


def _bad_action(action: object, tree: str) -> str:
    allowed = ACTIONS_BY_TREE[tree]
    if action is None:
        return f"required key is missing (actions of {tree}: {', '.join(allowed)})"
    home = [t for t, actions in ACTIONS_BY_TREE.items() if action in actions]
    if home:
        return f"{action!r} is an action of {home[0]}, not of {tree} (actions of {tree}: {', '.join(allowed)})"
    hint = _hint(action, allowed) or f" (actions: {', '.join(allowed)})"
    return f"{show_value(action)} is not an action of {tree}{hint}"


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return f"{show_value(value)}"


def parse_policy(doc: Any) -> tuple[Policy | None, list[str]]:
    """Parse ``doc`` into a `Policy`; returns (policy or None, every structural error)."""
    if not isinstance(doc, dict):
        return None, [f"(root): a policy must be a JSON object, got {_json_kind(doc)}"]
    errors: list[str] = []
    for key in sorted(set(doc) - TOP_KEYS, key=str):
        hint = _hint(key, sorted(TOP_KEYS)) or f" (allowed: {', '.join(sorted(TOP_KEYS))})"
        errors.append(f"{key}: unknown top-level key{hint}")
    raw_params = doc.get("parameters") or {}
    params: dict[str, float] = {}
    if not isinstance(raw_params, dict):
        errors.append(f"parameters: must be an object of name: number, got {show_value(raw_params)}")
    else:
        for name, value in raw_params.items():
            if not _num(value):
                errors.append(f"parameters.{name}: must be a finite number, got {value!r}")
            else:
                params[str(name)] = float(value)
    parser = _Parser(params)
    trees: dict[str, Node] = {}
    for tree in TREES:
        raw = doc.get(tree)
        if raw is not None:
            trees[tree] = parser.node(raw, tree, tree, 1)
    errors += parser.errors
    for key in ("version", "policy_id", "description"):
        if key in doc and not isinstance(doc[key], str | int | float):
            errors.append(f"{key}: must be a string")
    if errors:
        return None, errors
    policy = Policy(
        policy_id=str(doc.get("policy_id", "policy")),
        version=str(doc.get("version", "1.0")),
        description=str(doc.get("description", "")),
        parameters=params,
        trees=trees,
    )
    return policy, []
