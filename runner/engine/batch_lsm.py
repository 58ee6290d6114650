"""The liquidity-saving mechanism in the batch engine: bilateral offsetting and multilateral
cycles over Queue 2, all samples at once.

The rules are the reference's (`runner.engine.reference_lsm`; the search order is
`runner.engine.lsm`, docs/engine.md "LSM"): up to three rounds, each bilateral offsetting
then cycles, every step that settles something followed by one FIFO pass over Queue 2; a
sample leaves the loop when a round settles nothing for it or its Queue 2 is empty. An offset
or a cycle is a *group*: every queued payment on its edges settles at once if each bank with
a net position ≤ 0 keeps ``balance + net ≥ −overdraft limit`` and every edge's gross value
passes its sender's limits.

Samples are independent, so each step handles one group per sample at a time:

* offsetting: the pairs of each sample in their order, rank by rank (`rank_steps`);
* cycles: every cycle of the round is listed with its sample, in order (`cycle_list`); then,
  repeatedly, each sample settles its first cycle at or after its pointer that is feasible
  and shares no edge with a cycle settled before it. Between two settlements of a sample its
  state does not change, so "first feasible" is what trying the cycles one by one finds;
  at most ``max_cycles_per_tick`` settle per sample, so the loop is short.

The cycle list has a simple path (the shared `runner.engine.lsm.cycles` per sample) and a
fast one (`_CycleSearch`: paths grown edge by edge over every sample at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.engine import lsm
from runner.engine.batch_settlement import (
    credit,
    drop_settled_from_q2,
    mark_settled,
    queue2_pass,
    rank_steps,
    within_limits,
)
from runner.engine.batch_state import BatchState
from runner.engine.lane_sum import lane_sum
from runner.engine.rules import within_overdraft

LSM_ROUNDS = 3


def run_lsm(day: BatchState, t: int) -> None:
    """The LSM of tick ``t`` for every sample (see the module doc)."""
    setup = day.setup
    cycles_left = np.full(day.n_samples, setup.max_cycles_per_tick, dtype=np.int64)
    active = np.ones(day.n_samples, dtype=bool)
    for _ in range(LSM_ROUNDS):
        active &= _has_queue2(day)
        if not active.any():
            return
        settled = np.zeros(day.n_samples, dtype=bool)
        if setup.bilateral_lsm:
            settled |= _offset_round(day, t, active)
        if setup.cycles:
            settled |= _cycle_round(day, t, active & _has_queue2(day), cycles_left)
        active &= settled


def _has_queue2(day: BatchState) -> np.ndarray:
    out: np.ndarray = np.bincount(day.layout.sample[day.q2], minlength=day.n_samples) > 0
    return out


def _flows(day: BatchState, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Queue-2 value per [sample, sender, receiver] over the ``samples`` (a mask) only, and
    its edges: the flat indices of the non-zero entries, ascending (from the queue, so that
    no pass over the whole [sample, bank, bank] array is needed)."""
    lay, n_agents = day.layout, day.n_agents
    rows = day.q2[samples[lay.sample[day.q2]]]
    pair = lay.sender_lane[rows] * n_agents + day.receiver[rows]
    edges, which = np.unique(pair, return_inverse=True)
    flow = np.zeros(day.n_lanes * n_agents, dtype=np.int64)
    flow[edges] = lane_sum(which, day.remaining[rows], edges.size, day.exact)
    return flow.reshape(day.n_samples, n_agents, n_agents), edges


def _feasible(day: BatchState, lanes: np.ndarray, position: np.ndarray) -> np.ndarray:
    """The group rule per bank: a net payer (or a bank at net 0) stays within its overdraft."""
    ok: np.ndarray = (position > 0) | within_overdraft(day.balance[lanes] + position, day.overdraft_limit[lanes])
    return ok


def _settle_groups(
    day: BatchState,
    lanes: np.ndarray,
    position: np.ndarray,
    edge_lanes: np.ndarray,
    edge_to: np.ndarray,
    edge_value: np.ndarray,
) -> None:
    """Move the net positions of feasible groups (distinct ``lanes``) and count each edge's
    gross value against its sender's limits."""
    pays = position < 0
    day.balance[lanes[pays]] += position[pays]
    gets = position > 0
    credit(day, lanes[gets], position[gets])
    if day.has_limits:
        np.add.at(day.outflow_to, (edge_lanes, edge_to), edge_value)
        np.add.at(day.outflow_total, edge_lanes, edge_value)


def _settle_edges(day: BatchState, t: int, done: np.ndarray, settled: np.ndarray) -> None:
    """Mark every Queue-2 payment on a settled edge ``done[sample, sender, receiver]``
    settled, then one FIFO pass over the ``settled`` samples."""
    rows = day.q2[settled[day.layout.sample[day.q2]]]
    on = done[day.layout.sample[rows], day.sender[rows], day.receiver[rows]]
    mark_settled(day, rows[on], t)
    drop_settled_from_q2(day)
    queue2_pass(day, t, settled)


# ---------------------------------------------------------------------- offsetting
def _offset_round(day: BatchState, t: int, active: np.ndarray) -> np.ndarray:
    """One bilateral round; returns which samples settled an offset."""
    n_agents = day.n_agents
    flow, edges = _flows(day, active)
    si, ai, bi = np.unravel_index(edges, flow.shape)
    both_ways = (ai < bi) & (flow[si, bi, ai] > 0)
    si, ai, bi = si[both_ways], ai[both_ways], bi[both_ways]
    settled = np.zeros(day.n_samples, dtype=bool)
    if si.size == 0:
        return settled
    out_a, out_b = flow[si, ai, bi], flow[si, bi, ai]
    order_key = np.lexsort((bi, ai, -np.minimum(out_a, out_b)))  # larger offsets first
    rank_of = np.empty_like(order_key)
    rank_of[order_key] = np.arange(order_key.size)
    done = np.zeros(flow.shape, dtype=bool)
    for step in rank_steps(si, rank_of):
        s, a, b, fa, fb = si[step], ai[step], bi[step], out_a[step], out_b[step]
        lane_a, lane_b = s * n_agents + a, s * n_agents + b
        ok = (
            _feasible(day, lane_a, fb - fa)
            & _feasible(day, lane_b, fa - fb)
            & within_limits(day, lane_a, b, fa)
            & within_limits(day, lane_b, a, fb)
        )
        if not ok.any():
            continue
        s, a, b, fa, fb, lane_a, lane_b = (x[ok] for x in (s, a, b, fa, fb, lane_a, lane_b))
        _settle_groups(
            day,
            np.concatenate((lane_a, lane_b)),
            np.concatenate((fb - fa, fa - fb)),
            np.concatenate((lane_a, lane_b)),
            np.concatenate((b, a)),
            np.concatenate((fa, fb)),
        )
        done[s, a, b] = done[s, b, a] = True
        settled[s] = True
    if settled.any():
        _settle_edges(day, t, done, settled)
    return settled


# ---------------------------------------------------------------------- cycles
@dataclass(frozen=True)
class _CycleEdges:
    """The listed cycles as [cycle, slot] tables (slot i: the i-th bank and its outgoing edge;
    slots past a cycle's length are not ``valid``)."""

    sample: np.ndarray  # [cycle]
    valid: np.ndarray  # [cycle, slot]
    here: np.ndarray  # bank of the slot (0 where not valid)
    nxt: np.ndarray  # the bank it pays along the cycle
    lanes: np.ndarray  # lane of ``here``
    out_value: np.ndarray  # the edge's queued value
    position: np.ndarray  # the bank's net position in the cycle (in − out)

    @classmethod
    def build(cls, flow: np.ndarray, sample: np.ndarray, nodes: np.ndarray, length: np.ndarray) -> _CycleEdges:
        n_cycles, width = nodes.shape
        rows, slot = np.arange(n_cycles), np.arange(width)
        valid = slot[None, :] < length[:, None]
        nxt = np.where(valid, nodes[:, (slot + 1) % width], 0)
        nxt[rows, length - 1] = nodes[:, 0]  # the closing edge
        prev = np.where(valid, nodes[:, (slot - 1) % width], 0)
        prev[:, 0] = nodes[rows, length - 1]
        here = np.where(valid, nodes, 0)
        s = sample[:, None]
        out_value = np.where(valid, flow[s, here, nxt], 0)
        position = np.where(valid, flow[s, prev, here], 0) - out_value
        return cls(sample, valid, here, nxt, s * flow.shape[1] + here, out_value, position)

    def feasible(self, day: BatchState, cand: np.ndarray, used: np.ndarray) -> np.ndarray:
        """Which cycles ``cand`` could settle now: no edge settled earlier in the round,
        every bank within its overdraft after its net, every edge within its limits."""
        v = self.valid[cand]
        ok: np.ndarray = ~(used[self.sample[cand, None], self.here[cand], self.nxt[cand]] & v).any(axis=1)
        ok &= (_feasible(day, self.lanes[cand], self.position[cand]) | ~v).all(axis=1)
        if day.has_limits:
            fits = within_limits(
                day, self.lanes[cand].ravel(), self.nxt[cand].ravel(), self.out_value[cand].ravel()
            ).reshape(v.shape)
            ok &= (fits | ~v).all(axis=1)
        return ok

    def settle(self, day: BatchState, chosen: np.ndarray, used: np.ndarray) -> None:
        """Settle the cycles ``chosen`` (at most one per sample) and mark their edges used."""
        v = self.valid[chosen]
        lanes, nxt = self.lanes[chosen][v], self.nxt[chosen][v]
        _settle_groups(day, lanes, self.position[chosen][v], lanes, nxt, self.out_value[chosen][v])
        s = np.broadcast_to(self.sample[chosen][:, None], v.shape)[v]
        used[s, self.here[chosen][v], nxt] = True


def _cycle_round(day: BatchState, t: int, active: np.ndarray, cycles_left: np.ndarray) -> np.ndarray:
    """One cycle round; returns which samples settled a cycle."""
    settled = np.zeros(day.n_samples, dtype=bool)
    if not active.any():
        return settled
    flow, edges = _flows(day, active)
    headroom = None
    if day.fast and day.deferred:  # balances only fall during the round: prune what cannot pay
        headroom = (day.balance + day.overdraft_limit).reshape(day.n_samples, day.n_agents)
    sample, nodes, length = cycle_list(flow, active, day.setup.max_cycle_length, day.fast, headroom, edges)
    if sample.size == 0:
        return settled
    table = _CycleEdges.build(flow, sample, nodes, length)
    used = np.zeros(flow.shape, dtype=bool)
    pointer = np.searchsorted(sample, np.arange(day.n_samples))  # each sample's next cycle
    index = np.arange(sample.size)
    while True:
        cand = np.flatnonzero((index >= pointer[sample]) & (cycles_left[sample] > 0))
        if cand.size == 0:
            break
        good = cand[table.feasible(day, cand, used)]
        if good.size == 0:
            break
        chosen = good[np.unique(sample[good], return_index=True)[1]]  # first per sample
        table.settle(day, chosen, used)
        s = sample[chosen]
        pointer[s] = chosen + 1
        cycles_left[s] -= 1
        settled[s] = True
        # a sample without a feasible cycle left is done: nothing changes for it any more
        pointer[np.setdiff1d(sample[cand], s)] = sample.size
    if settled.any():
        _settle_edges(day, t, used, settled)
    return settled


def cycle_list(
    flow: np.ndarray,
    samples: np.ndarray,
    max_length: int,
    fast: bool,
    headroom: np.ndarray | None = None,
    edges: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cycle of every sample in ``samples`` (a mask) in `runner.engine.lsm.cycles`
    order: (sample [C], nodes [C, max_length] padded with -1, length [C]), by sample.

    ``headroom`` (fast path only; ``[sample, bank]``: balance + overdraft limit) leaves out
    the cycles in which some bank's net position ``p`` fails the group rule (``p ≤ 0`` and
    ``p < −headroom``), pruning paths as they grow. Valid when balances cannot rise during
    the round (deferred crediting): such a cycle could never settle. ``edges``: the flat
    indices of the samples' non-zero flows, ascending, if the caller has them."""
    if fast:
        if edges is None:
            edges = np.flatnonzero((flow > 0) & samples[:, None, None])
        return _CycleSearch(flow, edges, headroom).run(max_length)
    found: list[tuple[int, tuple[int, ...]]] = []
    for s in np.flatnonzero(samples).tolist():
        u, v = np.nonzero(flow[s])
        flows = {(int(a), int(b)): int(flow[s, a, b]) for a, b in zip(u, v, strict=True)}
        found += [(s, c) for c in lsm.cycles(flows, max_length)]
    nodes = np.full((len(found), max_length), -1, dtype=np.int64)
    for i, (_, c) in enumerate(found):
        nodes[i, : len(c)] = c
    return (
        np.array([s for s, _ in found], dtype=np.int64),
        nodes,
        np.array([len(c) for _, c in found], dtype=np.int64),
    )


def _matches(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (query, position) with ``sorted_keys[position] == queries[query]``."""
    lo = np.searchsorted(sorted_keys, queries, side="left")
    reps = np.searchsorted(sorted_keys, queries, side="right") - lo
    owner = np.repeat(np.arange(queries.size), reps)
    position = np.arange(owner.size) - np.repeat(np.cumsum(reps) - reps, reps) + lo[owner]
    return owner, position


class _CycleSearch:
    """`cycle_list`'s fast path over all samples at once. Simple paths start at their smallest
    bank and grow one edge at a time (each path of 3+ banks closes into a cycle where an edge
    leads back); the last bank of the longest cycles comes from a join with the two-edge paths
    ``y → x → start`` (x > start), so paths of the full length are never listed."""

    def __init__(self, flow: np.ndarray, edges: np.ndarray, headroom: np.ndarray | None) -> None:
        self.flow, self.headroom, self.n_agents = flow, headroom, flow.shape[1]
        # edges, sorted by (sample, sender, receiver)
        self.es, self.eu, self.ev = np.unravel_index(edges, flow.shape)
        self.out_key = self.es * self.n_agents + self.eu

    def can_pay(self, s: np.ndarray, before: np.ndarray, bank: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Whether ``bank`` (paid by ``before``, paying ``after``) passes the group rule."""
        if self.headroom is None:
            return np.ones(s.size, dtype=bool)
        position = self.flow[s, before, bank] - self.flow[s, bank, after]
        ok: np.ndarray = (position > 0) | (position >= -self.headroom[s, bank])
        return ok

    def run(self, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = self.ev > self.eu  # first edge: from the smallest bank of the cycle
        ps, paths = self.es[keep], np.stack((self.eu[keep], self.ev[keep]), axis=1)
        found: list[tuple[np.ndarray, np.ndarray]] = []  # (sample, nodes) per length
        while paths.shape[1] < max_length - 1 and ps.size:
            ps, paths = self.grow(ps, paths)
            closes = self.flow[ps, paths[:, -1], paths[:, 0]] > 0
            closes[closes] = self.can_pay(
                ps[closes], paths[closes, -2], paths[closes, -1], paths[closes, 0]
            ) & self.can_pay(ps[closes], paths[closes, -1], paths[closes, 0], paths[closes, 1])
            found.append((ps[closes], paths[closes]))
        found.append(self.close_through_one_more(ps, paths))
        sample = np.concatenate([f[0] for f in found])
        nodes = np.full((sample.size, max_length), -1, dtype=np.int64)
        length = np.concatenate([np.full(f[0].size, f[1].shape[1], dtype=np.int64) for f in found])
        at = 0
        for _, block in found:
            nodes[at : at + block.shape[0], : block.shape[1]] = block
            at += block.shape[0]
        return _in_order(self.flow, sample, nodes, length)

    def grow(self, ps: np.ndarray, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every path one edge longer (a bank above the start, not on the path yet)."""
        owner, position = _matches(self.out_key, ps * self.n_agents + paths[:, -1])
        nxt = self.ev[position]
        grown = np.concatenate((paths[owner], nxt[:, None]), axis=1)
        ok = nxt > grown[:, 0]
        for col in range(1, paths.shape[1]):
            ok &= nxt != grown[:, col]
        ok &= self.can_pay(ps[owner], grown[:, -3], grown[:, -2], nxt)
        return ps[owner][ok], grown[ok]

    def close_through_one_more(self, ps: np.ndarray, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cycles that close each path through one more bank ``x``: last → x → start."""
        n = self.n_agents
        es, eu, ev = self.es, self.eu, self.ev
        in_order = np.argsort(es * n + ev, kind="stable")
        in_key, in_sender = (es * n + ev)[in_order], eu[in_order]
        down = np.flatnonzero(eu > ev)  # x → z with x > z; then every y → x
        owner, position = _matches(in_key, es[down] * n + eu[down])
        edge = down[owner]
        pays = self.can_pay(es[edge], in_sender[position], eu[edge], ev[edge])  # x itself
        edge, position = edge[pays], position[pays]
        back_key = (es[edge] * n + in_sender[position]) * n + ev[edge]  # (sample, y, z)
        back_order = np.argsort(back_key, kind="stable")
        back_key, back_via = back_key[back_order], eu[edge][back_order]
        owner, position = _matches(back_key, (ps * n + paths[:, -1]) * n + paths[:, 0])
        via = back_via[position]
        ok = np.ones(via.size, dtype=bool)
        for col in range(1, paths.shape[1] - 1):
            ok &= via != paths[owner, col]
        s = ps[owner]
        ok &= self.can_pay(s, paths[owner, -2], paths[owner, -1], via) & self.can_pay(
            s, via, paths[owner, 0], paths[owner, 1]
        )
        return s[ok], np.concatenate((paths[owner][ok], via[ok, None]), axis=1)


def _in_order(
    flow: np.ndarray, sample: np.ndarray, nodes: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cycles sorted by sample, then `runner.engine.lsm.cycles` order: larger total value
    first, then fewer banks, then the bank sequence."""
    width = nodes.shape[1]
    slot = np.arange(width)
    nxt_nodes = np.where(slot[None, :] + 1 < length[:, None], np.roll(nodes, -1, axis=1), nodes[:, :1])
    edge_value = np.where(
        slot[None, :] < length[:, None], flow[sample[:, None], np.maximum(nodes, 0), np.maximum(nxt_nodes, 0)], 0
    )
    value = edge_value.sum(axis=1)
    order = np.lexsort((*(nodes[:, c] for c in range(width - 1, -1, -1)), length, -value, sample))
    return sample[order], nodes[order], length[order]
