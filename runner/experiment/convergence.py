"""When to stop: cost stability without accepted changes, or stable parameters (temporal)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConvergenceDetector:
    """Tracks the reference-set cost and the accepted changes of each iteration.

    Converged when, over the last ``window`` iterations, the total reference cost moved by at
    most ``threshold`` (relative to its previous value) and no policy change was accepted. In
    temporal mode it is the agents' parameters that must stay put for ``window`` iterations.
    """

    threshold: float
    window: int
    temporal: bool = False
    costs: list[float] = field(default_factory=list)
    changed: list[bool] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""

    def record(self, total_cost: float, any_accepted: bool, parameters: dict[str, Any]) -> None:
        self.costs.append(total_cost)
        self.changed.append(any_accepted)
        self.params.append(parameters)

    def converged(self) -> bool:
        w = self.window
        if len(self.costs) <= w:
            return False
        if self.temporal:
            recent = self.params[-(w + 1) :]
            if all(_close(p, recent[0]) for p in recent):
                self.reason = f"parameters unchanged for {w} iterations"
                return True
            return False
        costs = self.costs[-(w + 1) :]
        moves = [abs(b - a) / abs(a) if a else abs(b) for a, b in itertools.pairwise(costs)]
        if max(moves) <= self.threshold and not any(self.changed[-w:]):
            self.reason = f"cost stable within {self.threshold:.1%} and no change accepted for {w} iterations"
            return True
        return False


def _close(a: dict[str, Any], b: dict[str, Any], tol: float = 1e-9) -> bool:
    if a.keys() != b.keys():
        return False
    return all(abs(float(a[k]) - float(b[k])) <= tol for k in a)
