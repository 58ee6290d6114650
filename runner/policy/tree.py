"""The policy DSL as typed, immutable syntax trees.

A policy document (JSON) is parsed once into these nodes (`runner.policy.parse`); the
engines never look at the JSON again. Values are floats in the DSL, as in SimCash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

TREES = (
    "payment_tree",
    "bank_tree",
    "strategic_collateral_tree",
    "end_of_tick_collateral_tree",
)

PAYMENT_ACTIONS = (
    "Release",
    "ReleaseWithCredit",
    "Hold",
    "Split",
    "PaceAndRelease",
    "StaggerSplit",
    "Reprioritize",
    "Drop",
    "WithdrawFromRtgs",
    "ResubmitToRtgs",
)
BANK_ACTIONS = ("NoAction", "SetReleaseBudget", "SetState", "AddState")
COLLATERAL_ACTIONS = ("PostCollateral", "WithdrawCollateral", "HoldCollateral")

ACTIONS_BY_TREE: dict[str, tuple[str, ...]] = {
    "payment_tree": PAYMENT_ACTIONS,
    "bank_tree": BANK_ACTIONS,
    "strategic_collateral_tree": COLLATERAL_ACTIONS,
    "end_of_tick_collateral_tree": COLLATERAL_ACTIONS,
}

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
BINARY_COMPUTE = ("+", "-", "*", "/")
LIST_COMPUTE = ("max", "min")
UNARY_COMPUTE = ("ceil", "floor", "round", "abs")


@dataclass(frozen=True)
class FieldRef:
    name: str


@dataclass(frozen=True)
class ParamRef:
    name: str


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Binary:
    op: str  # + - * /
    left: Value
    right: Value
    path: str  # JSON path, for runtime errors (division by zero)


@dataclass(frozen=True)
class Nary:
    op: str  # max | min
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Unary:
    op: str  # ceil | floor | round | abs
    value: Value


@dataclass(frozen=True)
class Clamp:
    value: Value
    lo: Value
    hi: Value


@dataclass(frozen=True)
class SafeDiv:
    numerator: Value
    denominator: Value
    default: Value


Value: TypeAlias = FieldRef | ParamRef | Const | Binary | Nary | Unary | Clamp | SafeDiv


@dataclass(frozen=True)
class Compare:
    op: str
    left: Value
    right: Value


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Negate:
    condition: Condition


Condition: TypeAlias = Compare | AllOf | AnyOf | Negate

# An action parameter is a numeric value expression or a literal (string or list of strings).
ActionArg: TypeAlias = Value | str | tuple[str, ...]


@dataclass(frozen=True)
class ActionNode:
    node_id: str
    action: str
    args: dict[str, ActionArg] = field(default_factory=dict)
    kind: Literal["action"] = "action"


@dataclass(frozen=True)
class ConditionNode:
    node_id: str
    condition: Condition
    on_true: Node
    on_false: Node
    kind: Literal["condition"] = "condition"


Node: TypeAlias = ActionNode | ConditionNode


@dataclass(frozen=True)
class Policy:
    """A parsed, structurally valid policy document."""

    policy_id: str
    version: str
    description: str
    parameters: dict[str, float]
    trees: dict[str, Node]  # only the trees present in the document

    def tree(self, name: str) -> Node | None:
        return self.trees.get(name)


def iter_values(value: Value) -> list[Value]:
    """Every value node inside ``value`` (itself included), depth first."""
    out: list[Value] = [value]
    if isinstance(value, Binary):
        out += iter_values(value.left) + iter_values(value.right)
    elif isinstance(value, Nary):
        for v in value.values:
            out += iter_values(v)
    elif isinstance(value, Unary):
        out += iter_values(value.value)
    elif isinstance(value, Clamp):
        out += iter_values(value.value) + iter_values(value.lo) + iter_values(value.hi)
    elif isinstance(value, SafeDiv):
        for v in (value.numerator, value.denominator, value.default):
            out += iter_values(v)
    return out


def condition_values(cond: Condition) -> list[Value]:
    if isinstance(cond, Compare):
        return iter_values(cond.left) + iter_values(cond.right)
    if isinstance(cond, AllOf | AnyOf):
        return [v for c in cond.conditions for v in condition_values(c)]
    return condition_values(cond.condition)


def iter_nodes(node: Node) -> list[Node]:
    if isinstance(node, ActionNode):
        return [node]
    return [node, *iter_nodes(node.on_true), *iter_nodes(node.on_false)]


def node_values(node: Node) -> list[Value]:
    """Every value expression used directly by ``node`` (not its children)."""
    if isinstance(node, ConditionNode):
        return condition_values(node.condition)
    out: list[Value] = []
    for arg in node.args.values():
        if not isinstance(arg, str | tuple):
            out += iter_values(arg)
    return out


def fields_used(policy: Policy, tree: str | None = None) -> set[str]:
    names: set[str] = set()
    for tname, root in policy.trees.items():
        if tree is not None and tname != tree:
            continue
        for node in iter_nodes(root):
            names |= {v.name for v in node_values(node) if isinstance(v, FieldRef)}
    return names


def actions_used(policy: Policy, tree: str) -> set[str]:
    root = policy.trees.get(tree)
    if root is None:
        return set()
    return {n.action for n in iter_nodes(root) if isinstance(n, ActionNode)}
