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
fast one (`_cycles_vectorised`: paths grown edge by edge over every sample at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.engine import lsm
from runner.engine.batch_settlement import (
    credit,
    drop_settled_from_q2,
    lane_sum,
    mark_settled,
    queue2_pass,
    rank_steps,
    within_limits,
)
from runner.engine.batch_state import BatchState

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


def _flows(day: BatchState, samples: np.ndarray) -> np.ndarray:
    """Queue-2 value per [sample, sender, receiver], over the ``samples`` (a mask) only."""
    lay, n_agents = day.layout, day.n_agents
    rows = day.q2[samples[lay.sample[day.q2]]]
    pair = lay.sender_lane[rows] * n_agents + day.receiver[rows]
    size = day.n_lanes * n_agents
    return lane_sum(pair, day.remaining[rows], size, day.exact).reshape(
        day.n_samples, n_agents, n_agents)


def _feasible(day: BatchState, lanes: np.ndarray, position: np.ndarray) -> np.ndarray:
    """The group rule per bank: a net payer (or a bank at net 0) stays within its overdraft."""
    ok: np.ndarray = (position > 0) | (day.balance[lanes] + position >= -day.overdraft_limit[lanes])
    return ok


def _settle_groups(day: BatchState, lanes: np.ndarray, position: np.ndarray,
                   edge_lanes: np.ndarray, edge_to: np.ndarray, edge_value: np.ndarray) -> None:
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
    flow = _flows(day, active)
    upper = np.triu(np.ones((n_agents, n_agents), dtype=bool), 1)
    si, ai, bi = np.nonzero((flow > 0) & (flow.transpose(0, 2, 1) > 0) & upper)
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
        ok = (_feasible(day, lane_a, fb - fa) & _feasible(day, lane_b, fa - fb)
              & within_limits(day, lane_a, b, fa) & within_limits(day, lane_b, a, fb))
        if not ok.any():
            continue
        s, a, b, fa, fb, lane_a, lane_b = (x[ok] for x in (s, a, b, fa, fb, lane_a, lane_b))
        _settle_groups(day, np.concatenate((lane_a, lane_b)), np.concatenate((fb - fa, fa - fb)),
                       np.concatenate((lane_a, lane_b)), np.concatenate((b, a)),
                       np.concatenate((fa, fb)))
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
    def build(cls, flow: np.ndarray, sample: np.ndarray, nodes: np.ndarray,
              length: np.ndarray) -> _CycleEdges:
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
        ok: np.ndarray = ~(used[self.sample[cand, None], self.here[cand], self.nxt[cand]]
                           & v).any(axis=1)
        ok &= (_feasible(day, self.lanes[cand], self.position[cand]) | ~v).all(axis=1)
        if day.has_limits:
            fits = within_limits(day, self.lanes[cand].ravel(), self.nxt[cand].ravel(),
                                 self.out_value[cand].ravel()).reshape(v.shape)
            ok &= (fits | ~v).all(axis=1)
        return ok

    def settle(self, day: BatchState, chosen: np.ndarray, used: np.ndarray) -> None:
        """Settle the cycles ``chosen`` (at most one per sample) and mark their edges used."""
        v = self.valid[chosen]
        lanes, nxt = self.lanes[chosen][v], self.nxt[chosen][v]
        _settle_groups(day, lanes, self.position[chosen][v], lanes, nxt,
                       self.out_value[chosen][v])
        s = np.broadcast_to(self.sample[chosen][:, None], v.shape)[v]
        used[s, self.here[chosen][v], nxt] = True


def _cycle_round(day: BatchState, t: int, active: np.ndarray,
                 cycles_left: np.ndarray) -> np.ndarray:
    """One cycle round; returns which samples settled a cycle."""
    settled = np.zeros(day.n_samples, dtype=bool)
    if not active.any():
        return settled
    flow = _flows(day, active)
    sample, nodes, length = cycle_list(flow, active, day.setup.max_cycle_length, day.fast)
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


def cycle_list(flow: np.ndarray, samples: np.ndarray, max_length: int,
               fast: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cycle of every sample in ``samples`` (a mask) in `runner.engine.lsm.cycles`
    order: (sample [C], nodes [C, max_length] padded with -1, length [C]), by sample."""
    if fast:
        return _cycles_vectorised(flow, samples, max_length)
    found: list[tuple[int, tuple[int, ...]]] = []
    for s in np.flatnonzero(samples).tolist():
        u, v = np.nonzero(flow[s])
        flows = {(int(a), int(b)): int(flow[s, a, b]) for a, b in zip(u, v, strict=True)}
        found += [(s, c) for c in lsm.cycles(flows, max_length)]
    nodes = np.full((len(found), max_length), -1, dtype=np.int64)
    for i, (_, c) in enumerate(found):
        nodes[i, :len(c)] = c
    return (np.array([s for s, _ in found], dtype=np.int64), nodes,
            np.array([len(c) for _, c in found], dtype=np.int64))


def _cycles_vectorised(flow: np.ndarray, samples: np.ndarray,
                       max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`cycle_list` over all samples at once: simple paths from their smallest bank, grown
    one edge at a time through every edge (CSR by sender), closed where an edge leads back."""
    n_samples, n_agents, _ = flow.shape
    has = (flow > 0) & samples[:, None, None]
    es, eu, ev = np.nonzero(has)  # edges, sorted by (sample, sender, receiver)
    node_key = es * n_agents + eu
    start = np.searchsorted(node_key, np.arange(n_samples * n_agents))
    count = np.bincount(node_key, minlength=n_samples * n_agents)
    keep = ev > eu  # first edge: from the smallest bank of the cycle
    ps, paths = es[keep], np.stack((eu[keep], ev[keep]), axis=1)
    found_s, found_nodes, found_len = [], [], []
    while paths.shape[1] < max_length and ps.size:
        last = ps * n_agents + paths[:, -1]
        reps = count[last]
        owner = np.repeat(np.arange(ps.size), reps)
        offset = np.arange(owner.size) - np.repeat(np.cumsum(reps) - reps, reps)
        nxt = ev[start[last][owner] + offset]
        grown = np.concatenate((paths[owner], nxt[:, None]), axis=1)
        ok = nxt > grown[:, 0]
        for col in range(1, paths.shape[1]):
            ok &= nxt != grown[:, col]
        ps, paths = ps[owner][ok], grown[ok]
        closes = has[ps, paths[:, -1], paths[:, 0]]
        found_s.append(ps[closes])
        found_len.append(np.full(int(closes.sum()), paths.shape[1], dtype=np.int64))
        padded = np.full((int(closes.sum()), max_length), -1, dtype=np.int64)
        padded[:, :paths.shape[1]] = paths[closes]
        found_nodes.append(padded)
    if not found_s:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros((0, max_length), dtype=np.int64), empty
    return _in_order(flow, np.concatenate(found_s), np.concatenate(found_nodes),
                     np.concatenate(found_len))


def _in_order(flow: np.ndarray, sample: np.ndarray, nodes: np.ndarray,
              length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cycles sorted by sample, then `runner.engine.lsm.cycles` order: larger total value
    first, then fewer banks, then the bank sequence."""
    width = nodes.shape[1]
    slot = np.arange(width)
    nxt_nodes = np.where(slot[None, :] + 1 < length[:, None], np.roll(nodes, -1, axis=1),
                         nodes[:, :1])
    edge_value = np.where(slot[None, :] < length[:, None],
                          flow[sample[:, None], np.maximum(nodes, 0), np.maximum(nxt_nodes, 0)], 0)
    value = edge_value.sum(axis=1)
    order = np.lexsort((*(nodes[:, c] for c in range(width - 1, -1, -1)), length, -value, sample))
    return sample[order], nodes[order], length[order]
