"""The reference engine's payment record and a bank's release budget (money in integer cents)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.engine.rules import RTGS_NORMAL, Status


@dataclass
class Tx:
    """One payment; money in integer cents."""

    id: int
    sender: int
    receiver: int
    amount: int
    arrival: int
    deadline: int
    priority: int
    remaining: int = 0
    status: Status = Status.FUTURE
    settle_tick: int = -1
    original_priority: int = 0  # escalation boosts from the arrival priority
    rtgs_priority: int = RTGS_NORMAL
    submitted: int = -1  # tick of submission to RTGS (Queue-2 priority order)
    parent: Tx | None = None  # the payment this one was split from


@dataclass
class Budget:
    """A bank's release budget for the current tick (``SetReleaseBudget``)."""

    left: int
    focus: tuple[int, ...] | None
    per_cpty: int | None
    used: dict[int, int]
