"""Samples: one simulated day's inputs (payments and balance events), and their generation.

A `Schedule` is what varies between samples: the payments that arrive (sender, receiver,
amount, arrival tick, deadline, priority) and the scheduled balance events (direct transfers,
scheduled settlements such as the bootstrap sandbox's "liquidity beats"). Payments are kept in
queue-entry order: by arrival tick, scenario-event arrivals first (in file order), then
stochastic arrivals (agents in id order, in generation order).

Stochastic arrivals come from streams (`runner.engine.arrivals`): one per agent in id order —
its ``arrival_config``, or one per band of its ``arrival_bands`` (urgent, normal, low), or a
stream of rate 0 for an agent without arrivals.

Random draws for one sample, in this documented order (numpy PCG64 from `SeedSequence`):
1. arrival counts: one Poisson array of shape ``[ticks, streams]``;
2. then for each stream in order, over all its payments in tick order: amounts
   (Uniform: 1 integer each; Normal/LogNormal: 1 standard normal each; Exponential: 1
   exponential each), receivers (1 uniform each), deadline offsets (1 integer each), and
   priorities (Categorical: 1 choice each; Uniform and bands: 1 integer each; Fixed: none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from runner.engine.arrivals import Stream, arrival_streams
from runner.errors import ConfigError
from runner.scenario import events as scenario_events
from runner.scenario.arrivals import (
    CategoricalPriority,
    ExponentialAmount,
    FixedPriority,
    LogNormalAmount,
    NormalAmount,
    UniformAmount,
    UniformPriority,
)
from runner.scenario.config import ScenarioConfig
from runner.seeds import generator

KIND_DIRECT_TRANSFER = 0
KIND_SCHEDULED_SETTLEMENT = 1
KIND_COLLATERAL_ADJUSTMENT = 2  # event_from = the agent, event_amount = delta of its unsecured cap


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


def cap_deadlines(
    arrival: np.ndarray, offset: np.ndarray, tpd: int, episode_ticks: int, cap_at_eod: bool
) -> np.ndarray:
    """One rule for every source: ``min(arrival + offset, last tick of the episode)``, then
    (with ``deadline_cap_at_eod``) at most the last tick of the arrival day, and ≥ arrival."""
    d: np.ndarray = np.minimum(arrival + offset, episode_ticks - 1)
    if cap_at_eod:
        d = np.minimum(d, (arrival // tpd + 1) * tpd - 1)
    out: np.ndarray = np.maximum(d, arrival)
    return out


def _amounts(rng: np.random.Generator, dist: object, n: int) -> np.ndarray:
    if isinstance(dist, UniformAmount):
        return rng.integers(dist.min, dist.max + 1, size=n, dtype=np.int64)
    if isinstance(dist, NormalAmount):
        x = dist.mean + dist.std_dev * rng.standard_normal(n)
    elif isinstance(dist, LogNormalAmount):
        sigma2 = math.log1p((dist.std_dev / dist.mean) ** 2)
        mu = math.log(dist.mean) - sigma2 / 2
        x = np.exp(mu + math.sqrt(sigma2) * rng.standard_normal(n))
    elif isinstance(dist, ExponentialAmount):
        x = rng.exponential(1.0 / dist.lambda_, n)
    else:  # the scenario model admits no other distribution
        raise TypeError(f"unknown amount distribution {type(dist).__name__}")
    return np.maximum(1, np.floor(x + 0.5)).astype(np.int64)


def _priorities(rng: np.random.Generator, spec: object, n: int) -> np.ndarray:
    if isinstance(spec, int):
        return np.full(n, spec, dtype=np.int64)
    if isinstance(spec, FixedPriority):
        return np.full(n, spec.value, dtype=np.int64)
    if isinstance(spec, CategoricalPriority):
        p = np.asarray(spec.weights, dtype=float)
        return rng.choice(np.asarray(spec.values, dtype=np.int64), size=n, p=p / p.sum())
    if not isinstance(spec, UniformPriority):  # the scenario model admits no other
        raise TypeError(f"unknown priority distribution {type(spec).__name__}")
    return rng.integers(spec.min, spec.max + 1, size=n, dtype=np.int64)


def _draw_stream(rng: np.random.Generator, stream: Stream, ticks: np.ndarray, key0: int) -> tuple[np.ndarray, ...]:
    """One stream's payments at ``ticks``: sender, receiver, amount, tick, deadline offset,
    priority, ordering key (draws in the module doc's order)."""
    n = ticks.size
    amt = _amounts(rng, stream.amounts, n)
    seg = stream.segment_index(ticks)
    u = rng.random(n)
    rcv = np.empty(n, dtype=np.int64)
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    for i, segment in enumerate(stream.segments):
        mine = seg == i
        if not mine.any():
            continue
        if segment.cum is None:
            raise ConfigError("counterparty weights sum to zero", path=f"agents.{stream.agent_id}.arrival_config")
        cands = segment.candidates
        rcv[mine] = cands[np.minimum(np.searchsorted(segment.cum, u[mine], side="right"), cands.size - 1)]
        lo[mine], hi[mine] = segment.deadline
    if len(stream.segments) == 1:  # one window: scalar bounds (the draws of old)
        off = rng.integers(lo[0], hi[0] + 1, size=n, dtype=np.int64)
    else:
        off = rng.integers(lo, hi + 1, size=n, dtype=np.int64)
    pri = _priorities(rng, stream.priority, n)
    return (np.full(n, stream.agent, dtype=np.int64), rcv, amt, ticks, off, pri, key0 + np.arange(n))


class ScheduleGenerator:
    """Draws samples of one scenario's day(s): `generate_schedule` with everything that does
    not depend on the seed (agents, rates, receiver tables, scenario events) prepared once.

    Example:
        >>> days = ScheduleGenerator(cfg)  # doctest: +SKIP
        >>> schedules = [days.draw(seed) for seed in seeds]  # doctest: +SKIP
    """

    def __init__(self, cfg: ScenarioConfig, horizon: int | None = None) -> None:
        agents = sorted(cfg.agents, key=lambda a: a.id)
        ids = [a.id for a in agents]
        self.tpd = cfg.simulation.ticks_per_day
        self.episode = cfg.episode_ticks
        self.horizon = min(horizon or self.episode, self.episode)
        self.cap_at_eod = cfg.deadline_cap_at_eod
        self.rates, streams = arrival_streams(cfg, ids, self.horizon)
        n_events = len(cfg.scenario_events)
        # payments of scenario events (no random draws): snd, rcv, amt, arr, off, pri, key
        fixed: list[tuple[np.ndarray, ...]] = []
        default_offset = max(self.tpd // 10, 5)
        for i, event in enumerate(cfg.scenario_events):
            if isinstance(event, scenario_events.CustomTransactionArrival):
                fired = [t for t in range(self.horizon) if event.fires_at(t)]
                n = len(fired)
                fixed.append(
                    tuple(
                        np.asarray(x, dtype=np.int64)
                        for x in (
                            np.full(n, ids.index(event.from_agent)),
                            np.full(n, ids.index(event.to_agent)),
                            np.full(n, event.amount),
                            np.array(fired, dtype=np.int64),
                            np.full(n, event.deadline or default_offset),
                            np.full(n, event.priority),
                            np.full(n, i),
                        )
                    )
                )
        self.fixed = fixed
        self.streams = [(k, stream, n_events + k * 10**9) for k, stream in enumerate(streams) if stream.segments]
        rows: list[tuple[int, int, int, int, int]] = []
        for t in range(self.horizon):
            for event in cfg.scenario_events:
                if not event.fires_at(t):
                    continue
                if isinstance(event, scenario_events.DirectTransfer | scenario_events.ScheduledSettlement):
                    code = (
                        KIND_DIRECT_TRANSFER
                        if isinstance(event, scenario_events.DirectTransfer)
                        else KIND_SCHEDULED_SETTLEMENT
                    )
                    rows.append((t, code, ids.index(event.from_agent), ids.index(event.to_agent), event.amount))
                elif isinstance(event, scenario_events.CollateralAdjustment):
                    k = ids.index(event.agent)
                    rows.append((t, KIND_COLLATERAL_ADJUSTMENT, k, k, event.delta))
        self.events = tuple(np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)) if rows else ()

    def draw(self, seed: int) -> Schedule:
        """One sample from ``seed`` (see the module doc for the order of the draws)."""
        rng = generator(seed)
        counts = rng.poisson(self.rates)
        cols = list(self.fixed)
        for k, stream, key0 in self.streams:
            n = int(counts[:, k].sum())
            if n > 0:
                ticks = np.repeat(np.arange(self.horizon), counts[:, k])
                cols.append(_draw_stream(rng, stream, ticks, key0))
        if cols:
            snd, rcv, amt, arr, off, pri, key = (np.concatenate([c[i] for c in cols]) for i in range(7))
            order = np.lexsort((key, arr))
            dl = cap_deadlines(arr, off, self.tpd, self.episode, self.cap_at_eod)
            sched = Schedule(snd[order], rcv[order], amt[order], arr[order], dl[order], pri[order], seed=seed)
        else:
            empty = _i64()
            sched = Schedule(empty, empty, empty, empty, empty, empty, seed=seed)
        if not self.events:
            return sched
        tick, kind, frm, to, amount = self.events
        return replace(sched, event_tick=tick, event_kind=kind, event_from=frm, event_to=to, event_amount=amount)


def generate_schedule(cfg: ScenarioConfig, seed: int, horizon: int | None = None) -> Schedule:
    """Draw one sample of ``cfg``'s day(s) from ``seed`` (see the module doc for the order)."""
    return ScheduleGenerator(cfg, horizon).draw(seed)
