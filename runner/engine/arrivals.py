"""Stochastic arrival streams: what `runner.engine.schedule` draws payments from.

A stream is one agent's ``arrival_config``, or one band of its ``arrival_bands`` (urgent,
normal, low, in that order; reference §3.3). Every agent contributes at least one stream, in
agent-id order — an agent without arrivals a stream of rate 0 — so a scenario without bands
has exactly one stream per agent and draws as before bands existed.

Scenario events change the ``arrival_config`` streams only (bands are fixed, as in SimCash),
from the tick they fire on:

* ``GlobalArrivalRateChange``: every rate = its base rate × multiplier (not cumulative);
* ``AgentArrivalRateChange``: the agent's rate and base × multiplier (cumulative);
* ``CounterpartyWeightChange``: one counterparty weight set (unlisted ones weigh 1.0;
  ``auto_balance_others`` has no effect, as in SimCash);
* ``DeadlineWindowChange``: every (min, max) deadline offset × its multiplier, rounded half
  away from zero (cumulative), kept ``1 ≤ min ≤ max``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from runner.scenario import events as scenario_events
from runner.scenario.arrivals import CategoricalPriority, FixedPriority, UniformPriority
from runner.scenario.config import ScenarioConfig

BAND_PRIORITIES = {"urgent": (8, 10), "normal": (4, 7), "low": (0, 3)}
Priority = int | FixedPriority | CategoricalPriority | UniformPriority


@dataclass
class Segment:
    """A stream's receiver table and deadline window from tick ``start`` on."""

    start: int
    candidates: np.ndarray  # receiver agent indices
    cum: np.ndarray | None  # cumulative normalised weights (None: they sum to zero)
    deadline: tuple[int, int]


@dataclass
class Stream:
    agent: int
    agent_id: str
    amounts: object  # an amount distribution
    priority: Priority
    legacy: bool  # an arrival_config (scenario events apply)
    weights: dict[str, float]
    rate: float  # Poisson rate per tick before events
    segments: list[Segment] = field(default_factory=list)

    def segment_index(self, ticks: np.ndarray) -> np.ndarray:
        """Index of the segment each arrival tick falls in."""
        starts = np.array([s.start for s in self.segments])
        out: np.ndarray = np.searchsorted(starts, ticks, side="right") - 1
        return out


def _round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _table(weights: dict[str, float], ids: list[str], me: int) -> tuple[np.ndarray, np.ndarray | None]:
    candidates = [i for i in range(len(ids)) if i != me]
    w = np.array([weights.get(ids[i], 1.0) for i in candidates])
    cum = np.cumsum(w) / w.sum() if w.sum() > 0 else None
    return np.asarray(candidates, dtype=np.int64), cum


def _streams(cfg: ScenarioConfig, ids: list[str]) -> list[Stream]:
    out = []
    for a, agent in enumerate(sorted(cfg.agents, key=lambda x: x.id)):
        if agent.arrival_bands is not None and agent.arrival_bands.present():
            for name, band in agent.arrival_bands.present():
                lo, hi = BAND_PRIORITIES[name]
                out.append(
                    Stream(
                        a,
                        agent.id,
                        band.amount_distribution,
                        UniformPriority(type="Uniform", min=lo, max=hi),
                        False,
                        dict(band.counterparty_weights),
                        band.rate_per_tick,
                        [Segment(0, *_table(band.counterparty_weights, ids, a), band.deadline_range)],
                    )
                )
        elif agent.arrival_config is not None:
            arr = agent.arrival_config
            out.append(
                Stream(
                    a,
                    agent.id,
                    arr.amount_distribution,
                    arr.priority,
                    True,
                    dict(arr.counterparty_weights),
                    arr.rate_per_tick,
                    [Segment(0, *_table(arr.counterparty_weights, ids, a), arr.deadline_range)],
                )
            )
        else:
            out.append(Stream(a, agent.id, None, 5, False, {}, 0.0))
    return out


def arrival_streams(cfg: ScenarioConfig, ids: list[str], horizon: int) -> tuple[np.ndarray, list[Stream]]:
    """Poisson rates per ``[tick, stream]`` and the streams, scenario events applied."""
    streams = _streams(cfg, ids)
    base = np.array([s.rate for s in streams])
    current = base.copy()
    legacy = np.array([s.legacy for s in streams], dtype=bool)
    rates = np.zeros((horizon, len(streams)))
    for t in range(horizon):
        for event in cfg.scenario_events:
            if not event.fires_at(t):
                continue
            if isinstance(event, scenario_events.GlobalArrivalRateChange):
                current = np.where(legacy, base * event.multiplier, current)
            elif isinstance(event, scenario_events.AgentArrivalRateChange):
                for k, s in enumerate(streams):
                    if s.legacy and s.agent_id == event.agent:
                        base[k] *= event.multiplier  # cumulative, and it moves the base
                        current[k] *= event.multiplier
            elif isinstance(event, scenario_events.CounterpartyWeightChange | scenario_events.DeadlineWindowChange):
                _change(streams, event, ids, t)
        rates[t] = current
    return rates, streams


def _change(
    streams: list[Stream],
    event: scenario_events.CounterpartyWeightChange | scenario_events.DeadlineWindowChange,
    ids: list[str],
    t: int,
) -> None:
    for s in streams:
        if not s.legacy:
            continue
        last = s.segments[-1]
        if isinstance(event, scenario_events.CounterpartyWeightChange):
            if s.agent_id != event.agent:
                continue
            s.weights[event.counterparty] = event.new_weight
            new = Segment(t, *_table(s.weights, ids, s.agent), last.deadline)
        else:
            lo, hi = last.deadline
            if event.min_ticks_multiplier is not None:
                lo = max(1, _round_half_away(lo * event.min_ticks_multiplier))
            if event.max_ticks_multiplier is not None:
                hi = _round_half_away(hi * event.max_ticks_multiplier)
            new = Segment(t, last.candidates, last.cum, (lo, max(lo, hi)))
        if last.start == t:
            s.segments[-1] = new
        else:
            s.segments.append(new)
