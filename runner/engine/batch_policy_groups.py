"""Policy groups: agents sharing one policy object, decided together by the batch engine.

A group holds its compiled program and tables per payment-tree leaf (does the leaf release,
drop, reprioritise; its priority flag), built once per setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from runner.engine.rules import PRIORITY_FLAGS, QUEUE2_ACTIONS, SPLIT_ACTIONS, rtgs_priority
from runner.engine.setup import EngineSetup
from runner.errors import SimulationError
from runner.policy.program import PolicyProgram
from runner.policy.tree import ActionNode

RELEASE_ACTIONS = ("Release", "ReleaseWithCredit")
PER_CPTY_KEYS = ("max_per_counterparty", "max_per_cpty")  # first present wins


@dataclass(frozen=True)
class PolicyGroup:
    """Agents sharing one policy object, decided together; tables per payment-tree leaf."""

    program: PolicyProgram
    agents: np.ndarray
    release: np.ndarray  # bool: Release / ReleaseWithCredit
    drop: np.ndarray  # bool: Drop
    repri: np.ndarray  # bool: Reprioritize
    flag: np.ndarray  # int64: priority flag, -1 for none
    to_queue1: np.ndarray  # bool: WithdrawFromRtgs / ResubmitToRtgs (act on Queue 2)
    rtgs: np.ndarray  # int64: ResubmitToRtgs's declared RTGS priority, -1 elsewhere
    constant: bool  # the tree is one action without numeric arguments: every row gets leaf 0
    split: np.ndarray  # bool: Split / PaceAndRelease / StaggerSplit
    stagger: np.ndarray  # bool: StaggerSplit

    @property
    def acts_on_queue2(self) -> bool:
        return bool(self.to_queue1.any())

    @classmethod
    def build(cls, program: PolicyProgram, agents: list[int]) -> PolicyGroup:
        leaves = program.leaves("payment_tree")
        root = program.policy.trees["payment_tree"]
        flags = [PRIORITY_FLAGS.get(str(n.args.get("priority_flag")), -1) for n in leaves]
        return cls(
            program,
            np.asarray(agents),
            release=np.array([n.action in RELEASE_ACTIONS for n in leaves]),
            drop=np.array([n.action == "Drop" for n in leaves]),
            repri=np.array([n.action == "Reprioritize" for n in leaves]),
            flag=np.array(flags, dtype=np.int64),
            to_queue1=np.array([n.action in QUEUE2_ACTIONS for n in leaves]),
            rtgs=np.array(
                [rtgs_priority(n.args) if n.action == "ResubmitToRtgs" else -1 for n in leaves],
                dtype=np.int64,
            ),
            constant=isinstance(root, ActionNode)
            and root.action not in SPLIT_ACTIONS
            and all(isinstance(a, str | tuple) for a in root.args.values()),
            split=np.array([n.action in SPLIT_ACTIONS for n in leaves]),
            stagger=np.array([n.action == "StaggerSplit" for n in leaves]),
        )


def whole_args(values: np.ndarray, hi: int, what: str, policy: str, *, floor: bool) -> np.ndarray:
    """Numeric action arguments as int64 in ``[0, hi]``: the array twin of
    `runner.engine.rules.whole_arg` (floor or truncate, clamp; NaN is a SimulationError).

    A bare ``astype(np.int64)`` would not do: it turns NaN and values >= 2**63 (e.g. a
    budget computed from ``queue2_nearest_deadline``) into INT64_MIN, and a negative budget
    means "no budget" (the focus list dropped).
    """
    if np.isnan(values).any():
        raise SimulationError(f"policy {policy}: {what} is not a number (NaN)")
    whole = np.floor(values) if floor else np.trunc(values)
    out: np.ndarray = np.minimum(np.maximum(whole, 0), hi).astype(np.int64)  # np.clip: slower calls
    return out


_GROUPS: WeakKeyDictionary[EngineSetup, list[PolicyGroup]] = WeakKeyDictionary()


def policy_groups(setup: EngineSetup) -> list[PolicyGroup]:
    """Agents sharing one policy object are decided together (built once per setup)."""
    if setup not in _GROUPS:
        groups: dict[int, tuple[PolicyProgram, list[int]]] = {}
        for a, program in enumerate(setup.programs):
            groups.setdefault(id(program.policy), (program, []))[1].append(a)
        _GROUPS[setup] = [PolicyGroup.build(program, agents) for program, agents in groups.values()]
    return _GROUPS[setup]
