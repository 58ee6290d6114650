"""The data of the day chart: balances, queue sizes and cumulative cost per bank per tick.

Built from what the engine already exposes — the reference engine's event trace and its
`CostTable` — without reaching into the engine's state: the trace is replayed tick by tick.

* **Balance**: opening balance, plus the day's pool allocation at the start of each day,
  minus it at ``EndOfDay`` (pooled liquidity goes back); every ``Settlement`` moves its amount
  from sender to receiver and every ``DirectTransfer`` likewise. Offsetting emits the gross
  settlements of both directions, whose sum is the net amount it moved, so any settlement
  path (including LSM kinds added later) is accounted the same way. Values are end of tick
  (a deferred credit has arrived by then).
* **Queues**: a payment is in its sender's Queue 1 from ``Arrival`` until it settles, is
  queued centrally (``QueuedRtgs`` → Queue 2), dropped (a ``PolicyDecision`` with ``Drop``)
  or split (``Split``: its parts arrive as payments of their own); in Queue 2 until it settles.
* **Cumulative cost**: ``CostAccrual`` components plus ``Overdue`` and ``EodPenalty`` penalties
  and the friction of each ``Split``.
* **LSM marks**: every event whose type starts with ``Lsm`` and every settlement whose path
  is not plain RTGS, Queue 2 or a scheduled settlement — so new liquidity-saving kinds (cycle
  settlements…) are marked as soon as the engine emits them.

`reconcile` checks the replay against the engine's own end-of-day figures (final balances,
total costs): a disagreement means the trace holds a kind of money movement this module does
not know, and the chart says so rather than drawing wrong balances silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from runner.engine.results import CostTable
from runner.engine.setup import EngineSetup

PLAIN_PATHS = frozenset({"rtgs", "queue2", "scheduled"})
COST_EVENTS = {"Overdue": "penalty", "EodPenalty": "penalty"}
TICKS = pa.schema(
    [
        ("tick", pa.int32()),
        ("agent", pa.string()),
        ("balance", pa.int64()),
        ("queue1", pa.int32()),
        ("queue2", pa.int32()),
        ("cumulative_cost", pa.int64()),
    ]
)
LSM = pa.schema([("tick", pa.int32()), ("kind", pa.string()), ("agents", pa.string()), ("amount", pa.int64())])


def is_lsm(event: dict[str, Any]) -> bool:
    """A liquidity-saving event: an ``Lsm…`` kind, or a settlement by any non-plain path."""
    kind = str(event.get("type", ""))
    if kind.startswith("Lsm"):
        return True
    return kind == "Settlement" and str(event.get("path")) not in PLAIN_PATHS


class _Replay:
    """Per-bank state rebuilt from the trace (see the module docstring for the rules)."""

    def __init__(self, setup: EngineSetup) -> None:
        self.setup = setup
        self.agents = list(setup.agent_ids)
        self.balance = {a: int(setup.opening[i]) for i, a in enumerate(self.agents)}
        self.cost = dict.fromkeys(self.agents, 0)
        self.where: dict[int, tuple[str, int]] = {}  # payment id → (sender, queue 1 or 2)

    def start_of_day(self) -> None:
        for i, a in enumerate(self.agents):
            self.balance[a] += int(self.setup.allocation[i])

    def apply(self, e: dict[str, Any]) -> None:
        kind = e["type"]
        if kind in ("Settlement", "DirectTransfer"):
            self.balance[e["sender"]] -= int(e["amount"])
            self.balance[e["receiver"]] += int(e["amount"])
            if e.get("tx") is not None:
                self.where.pop(int(e["tx"]), None)
        elif kind == "Arrival":
            self.where[int(e["tx"])] = (e["sender"], 1)
        elif kind == "QueuedRtgs":
            self.where[int(e["tx"])] = (e["sender"], 2)
        elif kind == "PolicyDecision" and e.get("action") == "Drop":
            self.where.pop(int(e["tx"]), None)
        elif kind == "Split":  # the parts' own Arrival events follow
            self.where.pop(int(e["tx"]), None)
            self.cost[e["sender"]] += int(e["friction"])
        elif kind == "EndOfDay":
            for i, a in enumerate(self.agents):
                self.balance[a] -= int(self.setup.allocation[i])
        elif kind == "CostAccrual":
            self.cost[e["agent"]] += sum(int(v) for k, v in e.items() if k not in ("tick", "type", "agent"))
        elif kind in COST_EVENTS:
            self.cost[e["sender"]] += int(e[COST_EVENTS[kind]])

    def queues(self, agent: str) -> tuple[int, int]:
        q1 = sum(1 for s, q in self.where.values() if s == agent and q == 1)
        return q1, sum(1 for s, q in self.where.values() if s == agent and q == 2)


def day_frames(setup: EngineSetup, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"ticks": one row per (tick, bank), "lsm": one row per liquidity-saving event}``.

    Args:
        setup: the engine setup the day was simulated with.
        events: the reference engine's trace of that day (``ReferenceEngine.run(…, trace=True)``).
    """
    replay = _Replay(setup)
    by_tick: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        by_tick.setdefault(int(e["tick"]), []).append(e)
    rows, marks = [], []
    for t in range(setup.horizon):
        if t % setup.ticks_per_day == 0:
            replay.start_of_day()
        for e in by_tick.get(t, []):
            replay.apply(e)
            if is_lsm(e):
                agents = e.get("agents") or [e.get("sender"), e.get("receiver")]
                amount = e.get("net", e.get("amount"))
                marks.append(
                    {
                        "tick": t,
                        "kind": f"{e['type']}:{e['path']}" if "path" in e else e["type"],
                        "agents": ",".join(str(a) for a in agents if a is not None),
                        "amount": None if amount is None else int(amount),
                    }
                )
        for a in replay.agents:
            q1, q2 = replay.queues(a)
            rows.append(
                {
                    "tick": t,
                    "agent": a,
                    "balance": replay.balance[a],
                    "queue1": q1,
                    "queue2": q2,
                    "cumulative_cost": replay.cost[a],
                }
            )
    return {"ticks": pa.Table.from_pylist(rows, schema=TICKS), "lsm": pa.Table.from_pylist(marks, schema=LSM)}


def reconcile(frames: dict[str, Any], table: CostTable) -> list[str]:
    """Where the replayed day disagrees with the engine's results (empty: it agrees)."""
    last = {r["agent"]: r for r in frames["ticks"].to_pylist()[-len(table.agent_ids) :]}
    totals = table.totals()[0]
    problems = []
    for i, agent in enumerate(table.agent_ids):
        row = last.get(agent)
        if row is None:
            problems.append(f"{agent}: no ticks")
            continue
        if row["balance"] != int(table.final_balance[0, i]):
            problems.append(f"{agent} balance {row['balance']} vs engine {int(table.final_balance[0, i])}")
        if row["cumulative_cost"] != int(totals[i]):
            problems.append(f"{agent} cost {row['cumulative_cost']} vs engine {int(totals[i])}")
    return problems
