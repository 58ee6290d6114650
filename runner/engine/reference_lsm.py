"""The reference engine's liquidity-saving mechanism (reference §4.4; docs/engine.md, "LSM").

Up to three rounds over Queue 2, each: bilateral offsetting (if enabled), then multilateral
cycles (if enabled); every step that settles something is followed by one FIFO pass over
Queue 2; the LSM stops when a round settles nothing or the queue is empty. Which pairs and
cycles are tried, and in which order, is `runner.engine.lsm`; an offset or a cycle settles as
one group (`settle_group`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.engine import lsm
from runner.engine.rules import within_overdraft

if TYPE_CHECKING:
    from runner.engine.reference import _ReferenceDay

LSM_ROUNDS = 3


def run_lsm(day: _ReferenceDay, t: int) -> None:
    """Up to three rounds of bilateral offsetting then multilateral cycles, each step that
    settles something followed by one FIFO pass; stop when a round settles nothing."""
    day.cycles_left = day.setup.max_cycles_per_tick
    for _ in range(LSM_ROUNDS):
        settled = False
        if day.setup.bilateral_lsm and day.q2:
            settled = offsetting(day, t) | settled
        if day.setup.cycles and day.q2:
            settled = settle_cycles(day, t) | settled
        if not settled or not day.q2:
            return


def flows_of(day: _ReferenceDay) -> dict[tuple[int, int], int]:
    flows: dict[tuple[int, int], int] = {}
    for tx in day.q2:
        key = (tx.sender, tx.receiver)
        flows[key] = flows.get(key, 0) + tx.remaining
    return flows


def settle_group(day: _ReferenceDay, edges: dict[tuple[int, int], int], t: int, path: str) -> bool:
    """Settle every Queue-2 payment on ``edges`` at once if each bank that pays a net
    amount stays within its overdraft limit and every edge passes its sender's limits.

    Net payers are debited their net; net receivers are credited theirs (deferred with
    deferred crediting). Returns whether the group settled."""
    net = lsm.net_positions(edges)
    for a, position in sorted(net.items()):
        if position <= 0 and not within_overdraft(day.balance[a] + position, day.overdraft_limit(a)):
            return False
    if not day.limits.allows_all(edges):
        return False
    for a, position in sorted(net.items()):
        if position < 0:
            day.balance[a] += position
        elif position > 0:
            day.credit(a, position)
    still = []
    for tx in day.q2:
        if (tx.sender, tx.receiver) in edges:
            day._mark_settled(tx, t, path)
        else:
            still.append(tx)
    day.q2 = still
    return True


def offsetting(day: _ReferenceDay, t: int) -> bool:
    """One bilateral round: every pair with queued flows both ways, largest offset first
    (pairs from the queue at the start of the round), then a FIFO pass if any settled."""
    flows = flows_of(day)
    settled = False
    for a, b in lsm.offset_pairs(flows):
        edges = {(a, b): flows[(a, b)], (b, a): flows[(b, a)]}
        if settle_group(day, edges, t, "offset"):
            settled = True
            day.emit(
                t,
                "LsmOffset",
                agents=[day.setup.agent_ids[a], day.setup.agent_ids[b]],
                gross=flows[(a, b)] + flows[(b, a)],
                net=abs(flows[(a, b)] - flows[(b, a)]),
            )
    if settled:
        day.queue2_pass(t)
    return settled


def settle_cycles(day: _ReferenceDay, t: int) -> bool:
    """One cycle round: the cycles of the queue at the start of the round in `lsm.cycles`
    order; a cycle whose edges an earlier one settled is skipped; at most
    ``max_cycles_per_tick`` settle per tick. Then a FIFO pass if any settled."""
    flows = flows_of(day)
    used: set[tuple[int, int]] = set()
    settled = False
    for cycle in lsm.cycles(flows, day.setup.max_cycle_length):
        if day.cycles_left <= 0:
            break
        pairs = lsm.cycle_edges(cycle)
        if used.intersection(pairs):
            continue
        if settle_group(day, {e: flows[e] for e in pairs}, t, "cycle"):
            used.update(pairs)
            day.cycles_left -= 1
            settled = True
            day.emit(t, "LsmCycle", agents=[day.setup.agent_ids[a] for a in cycle], gross=lsm.cycle_value(cycle, flows))
    if settled:
        day.queue2_pass(t)
    return settled
