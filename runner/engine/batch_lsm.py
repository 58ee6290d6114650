"""The liquidity-saving mechanism in the batch engine: bilateral offsetting of Queue 2.

Rule (docs/engine.md, `runner.engine.reference`): up to three rounds; each round aggregates
Queue 2 by ordered pair, takes every pair with flows both ways, largest offset first (ties by
agent indices), and offsets it if the net payer's balance stays within its overdraft limit;
a round that offsets anything is followed by one FIFO pass over Queue 2. A sample leaves the
loop as soon as a round offsets nothing for it.
"""

from __future__ import annotations

import numpy as np

from runner.engine.batch_settlement import (
    credit,
    drop_settled_from_q2,
    lane_sum,
    mark_settled,
    queue2_pass,
    rank_steps,
)
from runner.engine.batch_state import BatchState


def offsetting(day: BatchState, t: int) -> None:
    """Bilateral offsetting of Queue 2 (see the module doc), all samples at once."""
    n_samples, n_agents = day.n_samples, day.n_agents
    lay = day.layout
    active = np.ones(n_samples, dtype=bool)
    upper = np.triu(np.ones((n_agents, n_agents), dtype=bool), 1)
    for _ in range(3):
        rows = day.q2[active[lay.sample[day.q2]]]
        if rows.size == 0:
            return
        pair = lay.sender_lane[rows] * n_agents + day.receiver[rows]  # (sample, sender, receiver)
        shape = (n_samples, n_agents, n_agents)
        flow = lane_sum(pair, day.remaining[rows], int(np.prod(shape)), day.exact).reshape(shape)
        si, ai, bi = np.nonzero((flow > 0) & (flow.transpose(0, 2, 1) > 0) & upper)
        if si.size == 0:
            return
        out_a, out_b = flow[si, ai, bi], flow[si, bi, ai]
        order_key = np.lexsort((bi, ai, -np.minimum(out_a, out_b)))  # larger offsets first
        rank_of = np.empty_like(order_key)
        rank_of[order_key] = np.arange(order_key.size)
        done = np.zeros(flow.shape, dtype=bool)
        for step in rank_steps(si, rank_of):
            a_pays = out_a[step] >= out_b[step]
            payer = si[step] * n_agents + np.where(a_pays, ai[step], bi[step])
            payee = si[step] * n_agents + np.where(a_pays, bi[step], ai[step])
            net = np.abs(out_a[step] - out_b[step])
            ok = day.balance[payer] - net >= -day.overdraft_limit[payer]
            day.balance[payer[ok]] -= net[ok]
            credit(day, payee[ok], net[ok])
            done[si[step][ok], ai[step][ok], bi[step][ok]] = True
        active = np.asarray(done.any(axis=(1, 2)))
        if not active.any():
            return
        snd, rcv = day.sender[rows], day.receiver[rows]
        offset = done[lay.sample[rows], np.minimum(snd, rcv), np.maximum(snd, rcv)]
        mark_settled(day, rows[offset], t)
        drop_settled_from_q2(day)
        queue2_pass(day, t, active)
