"""Settlement for the batch engine: "in order, settle if affordable", across many lanes at once.

The rule is sequential, so a naive vectorisation steps through the payments one rank at a
time. Two exact shortcuts avoid most of those steps:

* **Deferred crediting** (lane = one bank of one sample): nothing is credited during the
  pass, so a lane's balance only falls. ``available(b) = max(b,0) + max(0, L - max(0,-b))``
  is nondecreasing in ``b`` with slope 0 or 1 (for any credit limit ``L``), hence
  ``available(b - x) >= available(b) - x``. So while the running total of a lane's payments
  stays within the lane's available liquidity at the start of a round, every one of them
  settles in turn: that whole prefix settles at once (`Settlement._rounds`). The next round
  starts from the exact new balances. A payment above the lane's current available
  liquidity can never settle later in the pass (available only falls), so it leaves the
  scan. Each round settles at least the first remaining payment of every lane; one to three
  rounds usually finish a tick, where a rank-by-rank scan needs as many steps as the
  longest lane.
* **Immediate crediting** (lane = one sample): incoming payments raise a receiver's balance
  mid-pass, so the order across banks matters and the scan stays rank by rank. But when every
  sender in a sample can pay *all* its payments from its available liquidity at the start,
  every payment settles (balances only grow by inflows), whatever the order: such samples
  settle in one aggregate step (`Settlement._scan`).

Per-lane sums use `np.bincount` with float weights only when they are provably exact (every
partial sum below 2**53: a bound the engine computes once per batch, or checked per call),
else `np.add.at` on int64.
"""

from __future__ import annotations

import numpy as np

FUTURE, Q1, Q2, DROPPED, SETTLED = 0, 1, 2, 3, 4
FLOAT_EXACT = 2**53  # integers below this add exactly in float64


def run_starts(lanes: np.ndarray) -> np.ndarray:
    """Mask of the positions where a new run of equal values begins."""
    new = np.ones(lanes.size, dtype=bool)
    np.not_equal(lanes[1:], lanes[:-1], out=new[1:])
    return new


def rank_steps(lanes: np.ndarray, keys: np.ndarray | None = None) -> list[np.ndarray]:
    """Group positions by their rank within their lane.

    Step k holds the k-th entry of every lane that has one (lanes ascending), so processing
    the steps in order replays each lane's sequence while handling all lanes of a step at
    once. Entries are ordered by ``keys`` within a lane, or, without keys, by position (the
    input is then already in sequence order within each lane).
    """
    if lanes.size == 0:
        return []
    order = np.argsort(lanes, kind="stable") if keys is None else np.lexsort((keys, lanes))
    new = run_starts(lanes[order])
    idx = np.arange(order.size)
    rank = idx - np.maximum.accumulate(np.where(new, idx, 0))  # position minus its run's start
    by_rank = order[np.argsort(rank, kind="stable")]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(rank))))
    return [by_rank[bounds[k]:bounds[k + 1]] for k in range(bounds.size - 1)]


def lane_sum(lanes: np.ndarray, values: np.ndarray, size: int, exact: bool = False) -> np.ndarray:
    """Exact int64 sums of ``values`` per lane (``size`` lanes).

    ``exact`` asserts that ``sum(|values|) < 2**53`` (callers know a bound); otherwise it is
    checked here.
    """
    if values.size == 0:
        return np.zeros(size, dtype=np.int64)
    # bincount adds in float64: exact when every partial sum is an integer below 2**53
    if exact or int(np.abs(values).max()) * values.size < FLOAT_EXACT:
        return np.bincount(lanes, weights=values, minlength=size).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, lanes, values)
    return out


class Settlement:
    """Lane accounts and settlement passes; the state is set up by `runner.engine.batch`.

    Payment rows are flat over samples; Queue 2 (``q2``) is an array of rows in which each
    sample's rows appear in that sample's queue order (see `_set_q2`).
    """

    S: int  # samples
    A: int  # agents
    deferred: bool
    exact: bool  # every per-lane sum of amounts, weights or penalties stays below 2**53
    samp: np.ndarray  # per payment row: sample
    snd: np.ndarray  # sender agent
    rcv: np.ndarray  # receiver agent
    sl: np.ndarray  # sender lane (sample × A + sender)
    rl: np.ndarray  # receiver lane
    rem: np.ndarray  # remaining amount
    status: np.ndarray
    stick: np.ndarray  # settlement tick
    bal: np.ndarray  # per lane
    limit: np.ndarray  # collateral capacity + unsecured cap
    incoming: np.ndarray  # deferred credits of this tick
    q2: np.ndarray

    def available(self, lanes: np.ndarray | None = None) -> np.ndarray:
        """Liquidity ``lanes`` (default: every lane) can pay from: balance plus unused credit."""
        b, limit = (self.bal, self.limit) if lanes is None else (self.bal[lanes], self.limit[lanes])
        out: np.ndarray = np.maximum(b, 0) + np.maximum(0, limit - np.maximum(0, -b))
        return out

    def credit(self, lanes: np.ndarray, amounts: np.ndarray) -> None:
        """Credit *distinct* lanes (now, or at the end of the tick with deferred crediting)."""
        if self.deferred:
            self.incoming[lanes] += amounts
        else:
            self.bal[lanes] += amounts

    def mark_settled(self, rows: np.ndarray, t: int) -> None:
        self.status[rows] = SETTLED
        self.stick[rows] = t
        self.rem[rows] = 0

    # ------------------------------------------------------------------ tick entry points
    def settle_released(self, released: np.ndarray, t: int) -> None:
        """RTGS settlement of ``released`` (each sample's rows in release order, failures join
        Queue 2), then one FIFO pass over Queue 2."""
        if not self.deferred:
            ok = self._scan(released)
            self.mark_settled(released[ok], t)
            failed = released[~ok]
            self.status[failed] = Q2
            self._set_q2(self.q2, failed)
            self.queue2_pass(t)
            return
        # Deferred crediting: a payment that fails at RTGS fails again in the Queue-2 pass
        # (available only falls within the tick), so both passes are one pass per lane over
        # the releases followed by the old Queue 2. Both inputs are sorted by lane, so the
        # stable sort is a linear merge (timsort) that puts each lane's releases first.
        if self.q2.size == 0:  # the releases alone, already in lane order
            if self._all_fit(released):
                self.mark_settled(released, t)
                return
            both = released
            ok = self._rounds(released)
        else:
            both = np.concatenate((released, self.q2))
            order = np.argsort(self.sl[both], kind="stable")
            ok = np.empty(both.size, dtype=bool)
            ok[order] = self._rounds(both[order])
        self.mark_settled(both[ok], t)
        n = released.size
        failed = released[~ok[:n]]
        self.status[failed] = Q2
        self._set_q2(self.q2[~ok[n:]], failed)

    def _set_q2(self, old: np.ndarray, new: np.ndarray) -> None:
        """Queue 2 := ``old`` then ``new``. With deferred crediting Queue 2 is kept sorted by
        lane (each lane in queue order; lanes are independent): a linear merge of two sorted
        runs. Otherwise each sample's rows keep their queue order."""
        both = np.concatenate((old, new))
        if self.deferred and old.size and new.size:
            both = both[np.argsort(self.sl[both], kind="stable")]
        self.q2 = both

    def queue2_pass(self, t: int, samples: np.ndarray | None = None) -> None:
        """One FIFO pass over Queue 2 (only over ``samples`` if given, a mask)."""
        rows = self.q2 if samples is None else self.q2[samples[self.samp[self.q2]]]
        if rows.size == 0:
            return
        # with deferred crediting Queue 2 is sorted by lane, as `_rounds` needs
        ok = self._rounds(rows) if self.deferred else self._scan(rows)
        if ok.any():
            self.mark_settled(rows[ok], t)
            self.q2 = self.q2[self.status[self.q2] == Q2]  # keeps the order

    # ------------------------------------------------------------------ passes
    def _all_fit(self, seq: np.ndarray) -> bool:
        """Deferred crediting: if every lane can pay all of its ``seq`` at once, pay them
        (debits now, credits to ``incoming``) and say so; else change nothing. The common
        case with ample liquidity, in a few array operations instead of `_rounds`."""
        total = lane_sum(self.sl[seq], self.rem[seq], self.bal.size, self.exact)
        if not (total <= self.available()).all():
            return False
        self.bal -= total
        self.incoming += lane_sum(self.rl[seq], self.rem[seq], self.incoming.size, self.exact)
        return True

    def _rounds(self, seq: np.ndarray) -> np.ndarray:
        """Deferred crediting: settle ``seq`` (lanes contiguous, each in order); returns the
        settled mask. Debits balances now and credits ``incoming`` (see the module doc)."""
        lanes, need = self.sl[seq], self.rem[seq]
        ok = np.zeros(seq.size, dtype=bool)
        pos = np.arange(seq.size)  # still undecided
        while pos.size:
            ln, nd = lanes[pos], need[pos]
            avail = self.available(ln)
            alive = nd <= avail  # the others can never settle in this pass
            if not alive.all():
                pos, ln, nd, avail = pos[alive], ln[alive], nd[alive], avail[alive]
                if pos.size == 0:
                    break
            new = run_starts(ln)
            cum = np.cumsum(nd)
            # running total within each lane: subtract the total before the lane's first
            # entry (those totals are nondecreasing, so a running max carries them forward)
            cum -= np.maximum.accumulate(np.where(new, cum - nd, 0))
            fit = cum <= avail  # a prefix of each lane: cum only grows within a lane
            last = fit.copy()  # the last fitting entry of each lane holds the lane's total
            last[:-1] &= ~(fit[1:] & ~new[1:])
            self.bal[ln[last]] -= cum[last]
            ok[pos[fit]] = True
            pos = pos[~fit]
        if ok.any():
            self.incoming += lane_sum(self.rl[seq[ok]], need[ok], self.incoming.size, self.exact)
        return ok

    def _scan(self, seq: np.ndarray) -> np.ndarray:
        """Immediate crediting: settle ``seq`` (each sample's rows in order, one lane per
        sample) rank by rank; returns the settled mask. Moves the balances."""
        ok = np.zeros(seq.size, dtype=bool)
        if seq.size == 0:
            return ok
        send, recv, need = self.sl[seq], self.rl[seq], self.rem[seq]
        n_lanes = self.bal.size
        out_total = lane_sum(send, need, n_lanes, self.exact)
        in_total = lane_sum(recv, need, n_lanes, self.exact)
        avail = self.available()
        # Samples where every sender covers all its payments from its opening available
        # liquidity settle everything, in any order (inflows only add): apply the net flows.
        short = np.zeros(self.S, dtype=bool)
        short[np.flatnonzero(out_total > avail) // self.A] = True
        easy = ~short[self.samp[seq]]
        if easy.any():
            self.bal += np.where(np.repeat(short, self.A), 0, in_total - out_total)
            ok[easy] = True
        # The rest, rank by rank. A payment above its sender's available liquidity plus every
        # inflow of this pass can never settle: skip it.
        hard = np.flatnonzero(~easy)
        hard = hard[need[hard] <= avail[send[hard]] + in_total[send[hard]]]
        for step in rank_steps(self.samp[seq[hard]]):
            w = hard[step]
            nd, snd = need[w], send[w]
            fit = nd <= self.available(snd)
            self.bal[snd[fit]] -= nd[fit]
            self.bal[recv[w[fit]]] += nd[fit]  # one payment per sample per step: distinct lanes
            ok[w[fit]] = True
        return ok

    # ------------------------------------------------------------------ LSM
    def offsetting(self, t: int) -> None:
        """Bilateral offsetting of Queue 2: up to three rounds, each followed by a FIFO pass.
        A sample leaves the loop as soon as a round offsets nothing for it (as the reference)."""
        n_samples, n_agents = self.S, self.A
        active = np.ones(n_samples, dtype=bool)
        upper = np.triu(np.ones((n_agents, n_agents), dtype=bool), 1)
        for _ in range(3):
            rows = self.q2[active[self.samp[self.q2]]]
            if rows.size == 0:
                return
            pair = self.sl[rows] * n_agents + self.rcv[rows]  # (sample, sender, receiver)
            shape = (n_samples, n_agents, n_agents)
            flow = lane_sum(pair, self.rem[rows], int(np.prod(shape)), self.exact).reshape(shape)
            si, ai, bi = np.nonzero((flow > 0) & (flow.transpose(0, 2, 1) > 0) & upper)
            if si.size == 0:
                return
            out_a, out_b = flow[si, ai, bi], flow[si, bi, ai]
            order_key = np.lexsort((bi, ai, -np.minimum(out_a, out_b)))  # larger offsets first
            rank_of = np.empty_like(order_key)
            rank_of[order_key] = np.arange(order_key.size)
            done = np.zeros(flow.shape, dtype=bool)
            for step in rank_steps(si, rank_of):
                p_is_a = out_a[step] >= out_b[step]
                payer = si[step] * n_agents + np.where(p_is_a, ai[step], bi[step])
                payee = si[step] * n_agents + np.where(p_is_a, bi[step], ai[step])
                net = np.abs(out_a[step] - out_b[step])
                ok = self.bal[payer] - net >= -self.limit[payer]
                self.bal[payer[ok]] -= net[ok]
                self.credit(payee[ok], net[ok])
                done[si[step][ok], ai[step][ok], bi[step][ok]] = True
            active = np.asarray(done.any(axis=(1, 2)))
            if not active.any():
                return
            snd, rcv = self.snd[rows], self.rcv[rows]
            offset = done[self.samp[rows], np.minimum(snd, rcv), np.maximum(snd, rcv)]
            self.mark_settled(rows[offset], t)
            self.q2 = self.q2[self.status[self.q2] == Q2]
            self.queue2_pass(t, active)
