"""A policy compiled for execution: scalar decisions (reference engine) and batched ones.

`PolicyProgram` is built once per policy and reused for every sample and tick. The batched
path decides many payments at once: each tree node is evaluated only on the rows that reach
it, so a runtime error (division by zero on a field) is raised only for branches actually
taken, exactly as the one-payment path does.

Float semantics (both paths): comparisons ``==``/``<=``/``>=`` tolerate 1e-9; ``round`` is
half away from zero; ``/`` fails when the divisor is smaller than machine epsilon.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runner.errors import SimulationError
from runner.policy.fields import Base, field_value
from runner.policy.tree import (
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
    iter_nodes,
)

EPS_CMP = 1e-9
EPS_DIV = float(np.finfo(np.float64).eps)
LIQUIDITY_PARAM = "initial_liquidity_fraction"


def _round_half_away(x: Any) -> Any:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _compare(op: str, left: Any, right: Any) -> Any:
    close = np.abs(left - right) < EPS_CMP
    if op == "==":
        return close
    if op == "!=":
        return ~close
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return (left < right) | close
    return (left > right) | close


_UNARY: dict[str, Callable[[Any], Any]] = {
    "ceil": np.ceil,
    "floor": np.floor,
    "abs": np.abs,
    "round": _round_half_away,
}


@dataclass
class Decisions:
    """Batched decisions: the action leaf each row reached and the evaluated arguments."""

    leaf: np.ndarray  # int index into `PolicyProgram.leaves(tree)`, one per row
    args: dict[str, np.ndarray] = field(default_factory=dict)  # numeric args, NaN where unused


class PolicyProgram:
    """An executable policy: parameters resolved, trees ready to decide.

    Args:
        policy: a parsed, valid policy.
        name: a label for error messages (agent id or file).
    """

    def __init__(self, policy: Policy, name: str = "") -> None:
        self.policy = policy
        self.name = name or policy.policy_id
        self.params = dict(policy.parameters)
        self._leaves: dict[str, list[ActionNode]] = {
            tree: [n for n in iter_nodes(root) if isinstance(n, ActionNode)] for tree, root in policy.trees.items()
        }
        self._leaf_index = {tree: {id(n): i for i, n in enumerate(leaves)} for tree, leaves in self._leaves.items()}

    # Leaf lookup is keyed by node identity, which does not survive pickling (Ray ships
    # programs to workers): pickle the policy and rebuild the tables on arrival.
    def __reduce__(self) -> tuple[type[PolicyProgram], tuple[Policy, str]]:
        return (PolicyProgram, (self.policy, self.name))

    # ---- static facts
    def has_tree(self, tree: str) -> bool:
        return tree in self.policy.trees

    def leaves(self, tree: str) -> list[ActionNode]:
        return self._leaves.get(tree, [])

    def actions(self, tree: str) -> set[str]:
        return {n.action for n in self.leaves(tree)}

    def liquidity_fraction(self) -> float | None:
        value = self.params.get(LIQUIDITY_PARAM)
        return None if value is None else float(value)

    # ---- one row (reference engine)
    def decide_one(self, tree: str, base: Mapping[str, Any]) -> tuple[ActionNode, dict[str, Any]]:
        """Walk ``tree`` for one context; returns the action node and its evaluated args."""
        node = self.policy.trees[tree]
        while isinstance(node, ConditionNode):
            node = node.on_true if self._cond_one(node.condition, base) else node.on_false
        args: dict[str, Any] = {}
        for key, arg in node.args.items():
            args[key] = arg if isinstance(arg, str | tuple) else float(self._val_one(arg, base))
        return node, args

    def _cond_one(self, cond: Condition, base: Mapping[str, Any]) -> bool:
        if isinstance(cond, Compare):
            left = self._val_one(cond.left, base)
            right = self._val_one(cond.right, base)
            return bool(_compare(cond.op, left, right))
        if isinstance(cond, AllOf):
            return all(self._cond_one(c, base) for c in cond.conditions)
        if isinstance(cond, AnyOf):
            return any(self._cond_one(c, base) for c in cond.conditions)
        return not self._cond_one(cond.condition, base)

    def _val_one(self, v: Value, base: Mapping[str, Any]) -> float:
        if isinstance(v, Const):
            return v.value
        if isinstance(v, ParamRef):
            return self.params[v.name]
        if isinstance(v, FieldRef):
            return float(field_value(v.name, base))
        if isinstance(v, Binary):
            return float(self._arith(v, self._val_one(v.left, base), self._val_one(v.right, base)))
        # numpy ufuncs on scalars too, so NaN/inf behave exactly as in the batched path
        if isinstance(v, Nary):
            reduce = np.maximum if v.op == "max" else np.minimum
            acc = self._val_one(v.values[0], base)
            for item in v.values[1:]:
                acc = float(reduce(acc, self._val_one(item, base)))
            return acc
        if isinstance(v, Unary):
            return float(_UNARY[v.op](self._val_one(v.value, base)))
        if isinstance(v, Clamp):
            x = self._val_one(v.value, base)
            return float(np.minimum(np.maximum(x, self._val_one(v.lo, base)), self._val_one(v.hi, base)))
        den = self._val_one(v.denominator, base)
        if abs(den) < EPS_CMP:
            return self._val_one(v.default, base)
        return self._val_one(v.numerator, base) / den

    # ---- many rows (batch engine)
    def decide_many(self, tree: str, base: Base, n: int) -> Decisions:
        """Decide ``n`` rows at once; ``base`` maps base names to arrays of length ``n``
        (any object with ``__getitem__``: the batch engine computes quantities on demand)."""
        view = _CachedFields(base, n)
        leaf = np.full(n, -1, dtype=np.int64)
        out = Decisions(leaf)
        self._walk(self.policy.trees[tree], tree, np.arange(n), view, out, n)
        return out

    def _walk(self, node: Node, tree: str, rows: np.ndarray, view: _CachedFields, out: Decisions, n: int) -> None:
        if rows.size == 0:
            return
        if isinstance(node, ActionNode):
            out.leaf[rows] = self._leaf_index[tree][id(node)]
            for key, arg in node.args.items():
                if isinstance(arg, str | tuple):
                    continue
                if key not in out.args:
                    out.args[key] = np.full(n, np.nan)
                out.args[key][rows] = self._val_many(arg, view, rows)
            return
        mask = np.asarray(self._cond_many(node.condition, view, rows), dtype=bool)
        self._walk(node.on_true, tree, rows[mask], view, out, n)
        self._walk(node.on_false, tree, rows[~mask], view, out, n)

    def _cond_many(self, cond: Condition, view: _CachedFields, rows: np.ndarray) -> np.ndarray:
        if isinstance(cond, Compare):
            left = self._val_many(cond.left, view, rows)
            right = self._val_many(cond.right, view, rows)
            return np.broadcast_to(_compare(cond.op, left, right), rows.shape)
        if isinstance(cond, Negate):
            return ~self._cond_many(cond.condition, view, rows)
        is_and = isinstance(cond, AllOf)
        result = np.full(rows.shape, is_and)
        pending = np.arange(rows.size)  # positions still undecided (short-circuit)
        for sub in cond.conditions:
            if pending.size == 0:
                break
            value = self._cond_many(sub, view, rows[pending])
            decided = ~value if is_and else value
            result[pending[decided]] = not is_and
            pending = pending[~decided]
        return result

    def _val_many(self, v: Value, view: _CachedFields, rows: np.ndarray) -> Any:
        if isinstance(v, Const):
            return v.value
        if isinstance(v, ParamRef):
            return self.params[v.name]
        if isinstance(v, FieldRef):
            return view.field(v.name)[rows]
        if isinstance(v, Binary):
            return self._arith(v, self._val_many(v.left, view, rows), self._val_many(v.right, view, rows))
        if isinstance(v, Nary):
            vals = [self._val_many(x, view, rows) for x in v.values]
            reduce = np.maximum if v.op == "max" else np.minimum
            acc = vals[0]
            for x in vals[1:]:
                acc = reduce(acc, x)
            return acc
        if isinstance(v, Unary):
            return _UNARY[v.op](self._val_many(v.value, view, rows))
        if isinstance(v, Clamp):
            x = self._val_many(v.value, view, rows)
            lo = self._val_many(v.lo, view, rows)
            return np.minimum(np.maximum(x, lo), self._val_many(v.hi, view, rows))
        return self._div0_many(v, view, rows)

    def _div0_many(self, v: SafeDiv, view: _CachedFields, rows: np.ndarray) -> np.ndarray:
        """div0 like the scalar path: the numerator is evaluated only on the rows whose
        denominator is usable, the default only on the others (either may raise elsewhere)."""
        den = np.broadcast_to(np.asarray(self._val_many(v.denominator, view, rows), float), rows.shape)
        small = np.abs(den) < EPS_CMP
        out = np.empty(rows.shape)
        if small.any():
            out[small] = self._val_many(v.default, view, rows[small])
        if not small.all():
            usable = ~small
            num = np.asarray(self._val_many(v.numerator, view, rows[usable]), float)
            out[usable] = num / den[usable]
        return out

    def _arith(self, v: Binary, left: Any, right: Any) -> Any:
        """``left op right`` (scalars or arrays); a divisor below machine epsilon is an error."""
        if v.op == "+":
            return left + right
        if v.op == "-":
            return left - right
        if v.op == "*":
            return left * right
        if np.any(np.abs(right) < EPS_DIV):
            raise SimulationError(f"policy {self.name}: {v.path}: division by zero")
        return left / right


class _CachedFields:
    """Field arrays computed once per decision batch, on first use."""

    def __init__(self, base: Base, n: int) -> None:
        self.base = base
        self.n = n
        self.cache: dict[str, np.ndarray] = {}

    def field(self, name: str) -> np.ndarray:
        if name not in self.cache:
            value = np.asarray(field_value(name, self.base), dtype=np.float64)
            self.cache[name] = np.broadcast_to(value, (self.n,))
        return self.cache[name]
