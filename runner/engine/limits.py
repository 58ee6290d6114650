"""Per-day outflow limits (bilateral per counterparty, multilateral in total), reference §2.6.

Every settlement path (RTGS, the Queue-2 pass, bilateral offsetting, cycles) checks a payment's
full value against its sender's limits and records it when it settles; offsets and cycles
count gross values, not nets. Scenario-event transfers are not payments and neither count nor
are checked. The counters reset at the end of each day.
"""

from __future__ import annotations

import numpy as np

NO_LIMIT = -1


class OutflowLimits:
    """One sample's limit counters (the reference engine's; plain ints)."""

    def __init__(self, bilateral: np.ndarray | None, multilateral: np.ndarray | None, n: int) -> None:
        self.bilateral = (
            [[NO_LIMIT] * n for _ in range(n)] if bilateral is None else [[int(x) for x in row] for row in bilateral]
        )
        self.multilateral = [NO_LIMIT] * n if multilateral is None else [int(x) for x in multilateral]
        self.active = any(x != NO_LIMIT for x in self.multilateral) or any(
            x != NO_LIMIT for row in self.bilateral for x in row
        )
        self.out = [[0] * n for _ in range(n)]
        self.total = [0] * n

    def allows(self, sender: int, receiver: int, amount: int) -> bool:
        """Whether ``sender`` may pay ``amount`` more to ``receiver`` today."""
        return not self.active or self.blocked_by(sender, receiver, amount) is None

    def blocked_by(self, sender: int, receiver: int, amount: int) -> str | None:
        """Which limit ``amount`` more to ``receiver`` would break: "bilateral_limit",
        "multilateral_limit", or None."""
        cap = self.bilateral[sender][receiver]
        if cap != NO_LIMIT and self.out[sender][receiver] + amount > cap:
            return "bilateral_limit"
        total = self.multilateral[sender]
        if total != NO_LIMIT and self.total[sender] + amount > total:
            return "multilateral_limit"
        return None

    def allows_all(self, edges: dict[tuple[int, int], int]) -> bool:
        """Whether every edge's total passes its sender's limits (a bank appears as sender
        of several edges only in bilateral pairs, where each direction is its own edge)."""
        spent: dict[int, int] = {}
        for (s, r), value in edges.items():
            if not self.allows(s, r, value):
                return False
            spent[s] = spent.get(s, 0) + value
        return all(
            self.multilateral[s] == NO_LIMIT or self.total[s] + v <= self.multilateral[s] for s, v in spent.items()
        )

    def record(self, sender: int, receiver: int, amount: int) -> None:
        self.out[sender][receiver] += amount
        self.total[sender] += amount

    def reset(self) -> None:
        """End of day: every counter back to zero."""
        for row in self.out:
            row[:] = [0] * len(row)
        self.total = [0] * len(self.total)
