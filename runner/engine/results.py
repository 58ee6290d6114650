"""What an evaluation returns: int64 cost arrays per sample, day, agent and component."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from runner.engine.rates import COMPONENTS

# the arrays of every table (what `CostTable.summary` keeps), and the per-payment ones
SUMMARY_ARRAYS = (
    "costs",
    "arrived_count",
    "settled_count",
    "arrived_value",
    "settled_value",
    "delay_ticks",
    "final_balance",
)
PAYMENT_ARRAYS = ("settle_tick", "payment_counts")


@dataclass(frozen=True, eq=False)
class CostTable:
    """Costs and counts of a batch of simulated samples.

    Attributes:
        costs: int64 ``[sample, day, agent, component]`` (components: `COMPONENTS`).
        arrived_count, settled_count, arrived_value, settled_value, delay_ticks: int64
            ``[sample, day, agent]`` over each agent's *outgoing* payments, attributed to
            the day they arrived; ``settled`` means settled within the simulated ticks and
            ``delay_ticks`` sums (settlement tick − arrival tick) over settled payments.
        final_balance: int64 ``[sample, agent]`` balances after the last simulated tick
            (pooled liquidity already returned at each end of day).
        decisions: payment-tree decisions taken (payments × ticks spent in Queue 1).
        settle_tick: int64 ``[payment]``, every sample's payments end to end (in its
            schedule's order): the tick each settled, -1 if it did not; ``payment_counts``
            (int64 ``[sample]``) says where each sample's payments are.
    """

    agent_ids: tuple[str, ...]
    costs: np.ndarray
    arrived_count: np.ndarray
    settled_count: np.ndarray
    arrived_value: np.ndarray
    settled_value: np.ndarray
    delay_ticks: np.ndarray
    final_balance: np.ndarray
    decisions: int = 0
    settle_tick: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    payment_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_samples(self) -> int:
        return int(self.costs.shape[0])

    def summary(self) -> CostTable:
        """This table without the per-payment settlement ticks: what sample evaluations
        return (the ticks serve context-day histories only, and are most of a table's bytes)."""
        empty = np.zeros(0, dtype=np.int64)
        return replace(self, settle_tick=empty, payment_counts=empty)

    def same_summary(self, other: CostTable) -> bool:
        """Whether both tables hold the same agents and equal `SUMMARY_ARRAYS`."""
        return self.agent_ids == other.agent_ids and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in SUMMARY_ARRAYS
        )

    @property
    def settle_ticks(self) -> tuple[np.ndarray, ...]:
        """Per sample: the settlement tick of each payment of its schedule (-1: unsettled)."""
        if self.payment_counts.size == 0:
            return ()
        return tuple(np.split(self.settle_tick, np.cumsum(self.payment_counts)[:-1]))

    def totals(self) -> np.ndarray:
        """int64 ``[sample, agent]``: total cost over days and components."""
        totals: np.ndarray = self.costs.sum(axis=(1, 3))
        return totals

    def settlement_rates(self) -> np.ndarray:
        """float ``[sample, agent]``: settled / arrived payments (1.0 when none arrived)."""
        arrived = self.arrived_count.sum(axis=1)
        settled = self.settled_count.sum(axis=1)
        return np.where(arrived > 0, settled / np.maximum(arrived, 1), 1.0)

    def select(self, samples: np.ndarray | Sequence[int]) -> CostTable:
        idx = np.asarray(samples, dtype=np.int64)
        settle, counts = self.settle_tick, self.payment_counts
        if counts.size:
            per_sample = self.settle_ticks  # split once, not once per selected sample
            settle = np.concatenate([per_sample[i] for i in idx.tolist()] or [settle[:0]])
            counts = counts[idx]
        return CostTable(
            self.agent_ids,
            self.costs[idx],
            self.arrived_count[idx],
            self.settled_count[idx],
            self.arrived_value[idx],
            self.settled_value[idx],
            self.delay_ticks[idx],
            self.final_balance[idx],
            self.decisions,
            settle,
            counts,
        )

    @staticmethod
    def concat(tables: list[CostTable]) -> CostTable:
        """Samples of several tables one after the other (same setup)."""

        def stack(name: str) -> np.ndarray:
            return np.concatenate([getattr(t, name) for t in tables])

        return CostTable(
            tables[0].agent_ids,
            stack("costs"),
            stack("arrived_count"),
            stack("settled_count"),
            stack("arrived_value"),
            stack("settled_value"),
            stack("delay_ticks"),
            stack("final_balance"),
            decisions=sum(t.decisions for t in tables),
            settle_tick=stack("settle_tick"),
            payment_counts=stack("payment_counts"),
        )

    def report(self, sample: int = 0) -> dict[str, Any]:
        """JSON-ready report of one sample: totals, per agent, and per day."""

        def block(
            costs: np.ndarray,
            arrived: np.ndarray,
            settled: np.ndarray,
            value_a: np.ndarray,
            value_s: np.ndarray,
            delay: np.ndarray,
        ) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for a, agent in enumerate(self.agent_ids):
                n_arr, n_set = int(arrived[a]), int(settled[a])
                out[agent] = {
                    "total_cost": int(costs[a].sum()),
                    "costs": {c: int(costs[a, i]) for i, c in enumerate(COMPONENTS)},
                    "arrived": n_arr,
                    "settled": n_set,
                    "arrived_value": int(value_a[a]),
                    "settled_value": int(value_s[a]),
                    "settlement_rate": n_set / n_arr if n_arr else 1.0,
                    "mean_delay_ticks": float(delay[a]) / n_set if n_set else 0.0,
                }
            return out

        c = self.costs[sample]
        days = []
        for d in range(c.shape[0]):
            agents = block(
                c[d],
                self.arrived_count[sample, d],
                self.settled_count[sample, d],
                self.arrived_value[sample, d],
                self.settled_value[sample, d],
                self.delay_ticks[sample, d],
            )
            days.append({"day": d, "total_cost": int(c[d].sum()), "agents": agents})
        agents = block(
            c.sum(axis=0),
            self.arrived_count[sample].sum(axis=0),
            self.settled_count[sample].sum(axis=0),
            self.arrived_value[sample].sum(axis=0),
            self.settled_value[sample].sum(axis=0),
            self.delay_ticks[sample].sum(axis=0),
        )
        return {"total_cost": int(c.sum()), "agents": agents, "days": days}
