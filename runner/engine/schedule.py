"""Samples: one simulated day's inputs (payments and balance events), and their generation.

A `Schedule` is what varies between samples: the payments that arrive (sender, receiver,
amount, arrival tick, deadline, priority) and the scheduled balance events (direct transfers,
scheduled settlements such as the bootstrap sandbox's "liquidity beats"). Payments are kept in
queue-entry order: by arrival tick, scenario-event arrivals first (in file order), then
stochastic arrivals (agents in id order, in generation order).

Random draws for one sample, in this documented order (numpy PCG64 from `SeedSequence`):
1. arrival counts: one Poisson array of shape ``[ticks, agents]`` (agents in id order; agents
   without ``arrival_config`` have rate 0);
2. then for each agent in id order, over all its payments in tick order: amounts
   (Uniform: 1 integer each; Normal/LogNormal: 1 standard normal each; Exponential: 1
   exponential each), receivers (1 uniform each), deadline offsets (1 integer each), and
   priorities (Categorical: 1 choice each; Uniform: 1 integer each; Fixed: none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from runner.errors import ConfigError
from runner.scenario import models as M
from runner.seeds import generator

KIND_DIRECT_TRANSFER = 0
KIND_SCHEDULED_SETTLEMENT = 1


def _i64(values: object = ()) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


@dataclass(frozen=True)
class Schedule:
    """One sample's inputs; all arrays int64, payments in queue-entry order."""

    sender: np.ndarray
    receiver: np.ndarray
    amount: np.ndarray
    arrival: np.ndarray
    deadline: np.ndarray
    priority: np.ndarray
    event_tick: np.ndarray = field(default_factory=_i64)
    event_kind: np.ndarray = field(default_factory=_i64)
    event_from: np.ndarray = field(default_factory=_i64)
    event_to: np.ndarray = field(default_factory=_i64)
    event_amount: np.ndarray = field(default_factory=_i64)
    seed: int | None = None

    @property
    def n_payments(self) -> int:
        return int(self.amount.size)

    @property
    def n_events(self) -> int:
        return int(self.event_tick.size)


def cap_deadlines(arrival: np.ndarray, offset: np.ndarray, tpd: int, episode_ticks: int,
                  cap_at_eod: bool) -> np.ndarray:
    """One rule for every source: ``min(arrival + offset, last tick of the episode)``, then
    (with ``deadline_cap_at_eod``) at most the last tick of the arrival day, and ≥ arrival."""
    d: np.ndarray = np.minimum(arrival + offset, episode_ticks - 1)
    if cap_at_eod:
        d = np.minimum(d, (arrival // tpd + 1) * tpd - 1)
    out: np.ndarray = np.maximum(d, arrival)
    return out


def _arrival_rates(cfg: M.ScenarioConfig, ids: list[str], horizon: int) -> np.ndarray:
    """Poisson rates per [tick, agent], with arrival-rate events applied from their tick on."""
    base = np.array([a.arrival_config.rate_per_tick if a.arrival_config else 0.0
                     for a in sorted(cfg.agents, key=lambda a: a.id)])
    current = base.copy()
    rates = np.zeros((horizon, len(ids)))
    for t in range(horizon):
        for event in cfg.scenario_events:
            if isinstance(event, M.GlobalArrivalRateChange) and event.fires_at(t):
                current = base * event.multiplier  # relative to the base: not cumulative
            elif isinstance(event, M.AgentArrivalRateChange) and event.fires_at(t):
                k = ids.index(event.agent)
                base[k] *= event.multiplier  # cumulative, and it moves the base
                current[k] *= event.multiplier
        rates[t] = current
    return rates


def _amounts(rng: np.random.Generator, dist: object, n: int) -> np.ndarray:
    if isinstance(dist, M.UniformAmount):
        return rng.integers(dist.min, dist.max + 1, size=n, dtype=np.int64)
    if isinstance(dist, M.NormalAmount):
        x = dist.mean + dist.std_dev * rng.standard_normal(n)
    elif isinstance(dist, M.LogNormalAmount):
        sigma2 = math.log1p((dist.std_dev / dist.mean) ** 2)
        mu = math.log(dist.mean) - sigma2 / 2
        x = np.exp(mu + math.sqrt(sigma2) * rng.standard_normal(n))
    else:
        assert isinstance(dist, M.ExponentialAmount)
        x = rng.exponential(1.0 / dist.lambda_, n)
    return np.maximum(1, np.floor(x + 0.5)).astype(np.int64)


def _priorities(rng: np.random.Generator, spec: object, n: int) -> np.ndarray:
    if isinstance(spec, int):
        return np.full(n, spec, dtype=np.int64)
    if isinstance(spec, M.FixedPriority):
        return np.full(n, spec.value, dtype=np.int64)
    if isinstance(spec, M.CategoricalPriority):
        p = np.asarray(spec.weights, dtype=float)
        return rng.choice(np.asarray(spec.values, dtype=np.int64), size=n, p=p / p.sum())
    assert isinstance(spec, M.UniformPriority)
    return rng.integers(spec.min, spec.max + 1, size=n, dtype=np.int64)


def _receivers(rng: np.random.Generator, cfg: M.ArrivalConfig, ids: list[str], me: int,
               n: int) -> np.ndarray:
    candidates = [i for i in range(len(ids)) if i != me]
    weights = np.array([cfg.counterparty_weights.get(ids[i], 1.0) for i in candidates])
    if weights.sum() <= 0:
        raise ConfigError("counterparty weights sum to zero", path=f"agents.{ids[me]}.arrival_config")
    cum = np.cumsum(weights) / weights.sum()
    pick = np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(candidates) - 1)
    return np.asarray(candidates, dtype=np.int64)[pick]


def generate_schedule(cfg: M.ScenarioConfig, seed: int, horizon: int | None = None) -> Schedule:
    """Draw one sample of ``cfg``'s day(s) from ``seed`` (see the module doc for the order)."""
    agents = sorted(cfg.agents, key=lambda a: a.id)
    ids = [a.id for a in agents]
    tpd = cfg.simulation.ticks_per_day
    episode = cfg.episode_ticks
    horizon = min(horizon or episode, episode)
    rng = generator(seed)
    counts = rng.poisson(_arrival_rates(cfg, ids, horizon))
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("snd", "rcv", "amt", "arr", "off", "pri", "key")}

    def add(snd: np.ndarray, rcv: np.ndarray, amt: np.ndarray, arr: np.ndarray, off: np.ndarray,
            pri: np.ndarray, key: np.ndarray) -> None:
        for name, arr_ in zip(cols, (snd, rcv, amt, arr, off, pri, key), strict=True):
            cols[name].append(np.asarray(arr_, dtype=np.int64))

    default_offset = max(tpd // 10, 5)
    for i, event in enumerate(cfg.scenario_events):
        if isinstance(event, M.CustomTransactionArrival):
            fired = [t for t in range(horizon) if event.fires_at(t)]
            n = len(fired)
            add(np.full(n, ids.index(event.from_agent)), np.full(n, ids.index(event.to_agent)),
                np.full(n, event.amount), np.array(fired), np.full(n, event.deadline or default_offset),
                np.full(n, event.priority), np.full(n, i))
    n_events = len(cfg.scenario_events)
    for a, agent in enumerate(agents):
        arrivals = agent.arrival_config
        n = int(counts[:, a].sum())
        if arrivals is None or n == 0:
            continue
        ticks = np.repeat(np.arange(horizon), counts[:, a])
        amt = _amounts(rng, arrivals.amount_distribution, n)
        rcv = _receivers(rng, arrivals, ids, a, n)
        lo, hi = arrivals.deadline_range
        off = rng.integers(lo, hi + 1, size=n, dtype=np.int64)
        pri = _priorities(rng, arrivals.priority, n)
        add(np.full(n, a), rcv, amt, ticks, off, pri, n_events + a * 10**9 + np.arange(n))
    if not cols["amt"]:
        empty = _i64()
        return _with_events(cfg, ids, horizon, Schedule(empty, empty, empty, empty, empty, empty, seed=seed))
    snd, rcv, amt, arr, off, pri, key = (np.concatenate(cols[k]) for k in cols)
    order = np.lexsort((key, arr))
    dl = cap_deadlines(arr, off, tpd, episode, cfg.deadline_cap_at_eod)
    sched = Schedule(snd[order], rcv[order], amt[order], arr[order], dl[order], pri[order], seed=seed)
    return _with_events(cfg, ids, horizon, sched)


def _with_events(cfg: M.ScenarioConfig, ids: list[str], horizon: int, sched: Schedule) -> Schedule:
    rows: list[tuple[int, int, int, int, int]] = []
    for t in range(horizon):
        for event in cfg.scenario_events:
            if isinstance(event, M.DirectTransfer | M.ScheduledSettlement) and event.fires_at(t):
                code = KIND_DIRECT_TRANSFER if isinstance(event, M.DirectTransfer) else KIND_SCHEDULED_SETTLEMENT
                rows.append((t, code, ids.index(event.from_agent), ids.index(event.to_agent), event.amount))
    if not rows:
        return sched
    tick, kind, frm, to, amount = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
    return Schedule(sched.sender, sched.receiver, sched.amount, sched.arrival, sched.deadline,
                    sched.priority, tick, kind, frm, to, amount, seed=sched.seed)
