"""The documented bounds of a scenario, derived from the engine's int64 arithmetic (`docs/limits.md`).

A scenario passes `check_bounds` only if no sample of it can overflow int64 in either engine,
so the reference engine (Python integers) and the batch engine (numpy int64) always agree and
no cost can wrap negative. Checked once, at load time, before any tick; each refusal names
the field.

The derivation, per sample:

* **payments**: an agent's arrivals over the episode are Poisson with mean Λ (its rate per
  tick summed over the ticks, arrival-rate events included); we bound the count by
  ``Λ + 12·√Λ + 40``, exceeded with probability below 10⁻³⁰. Scenario-event payments are
  counted exactly.
* **amounts**: the largest amount a distribution can draw with numpy's ``Generator``
  (ziggurat samplers fed by 53-bit uniforms): ``|standard normal| ≤ 13.71`` and
  ``standard exponential ≤ 44.44``, so Normal ``≤ mean + 13.71·std_dev``, LogNormal
  ``≤ exp(μ + 13.71·σ)``, Exponential ``≤ 44.44 / lambda``, Uniform ``≤ max``. Each must be
  at most `MAX_CENTS` (the engine casts the draw to int64).
* **costs**: every balance is bounded by the agent's own money (opening balance, credit,
  pool brought in every day, collateral) plus every payment and transfer of the sample; the
  engine's integer cost terms (``amount × scaled rate / denominator``, `runner.engine.rates`)
  are then bounded per tick and summed over the horizon, with penalties per payment and day.
  The sum over agents, and every intermediate product (the delay weight ``amount ×
  multipliers``), must stay below `COST_LIMIT` = 2⁶², which leaves room for the sums over
  agents and for paired differences of two samples' costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from runner.errors import ConfigError
from runner.scenario import events as scenario_events
from runner.scenario.agents import AgentConfig
from runner.scenario.arrivals import (
    AmountDistribution,
    ArrivalBand,
    ArrivalConfig,
    LogNormalAmount,
    NormalAmount,
    UniformAmount,
)
from runner.scenario.config import ScenarioConfig
from runner.scenario.costs import CostRates, FixedPenalty, Penalty, RatePenalty

MAX_CENTS = 10**15  # any one money amount: $10 trillion
MAX_SEED = 2**64 - 1
MAX_EPISODE_TICKS = 100_000  # ticks_per_day × num_days
MAX_EVENT_TICKS = 10_000_000  # scenario events × episode ticks (the schedule walks every pair)
MAX_RATE_PER_TICK = 10_000.0  # expected arrivals of one agent in one tick
MAX_EXPECTED_ARRIVALS = 1_000_000  # expected payments of one sample, all agents
MAX_BPS = 1_000_000.0  # a rate in basis points: 100 times the amount, per tick or per event
MAX_DELAY_RATE = 10_000.0  # delay_cost_per_tick_per_cent
MAX_MULTIPLIER = 10_000.0  # overdue and priority delay multipliers
MAX_NUMBER = 1e15  # any other number in a scenario
COST_LIMIT = 2**62
NORMAL_DRAW_MAX = 13.71
EXPONENTIAL_DRAW_MAX = 44.44

# cost_rates fields in basis points, and multipliers (their ceilings).
_RATE_CEILINGS: dict[str, float] = {
    "overdraft_bps_per_tick": MAX_BPS,
    "collateral_cost_per_tick_bps": MAX_BPS,
    "liquidity_cost_per_tick_bps": MAX_BPS,
    "bps_per_event": MAX_BPS,
    "delay_cost_per_tick_per_cent": MAX_DELAY_RATE,
    "overdue_delay_multiplier": MAX_MULTIPLIER,
    "urgent_multiplier": MAX_MULTIPLIER,
    "normal_multiplier": MAX_MULTIPLIER,
    "low_multiplier": MAX_MULTIPLIER,
}


def check_bounds(cfg: ScenarioConfig, source: str | Path | None = None) -> None:
    """Refuse a scenario the engine cannot simulate exactly (see the module docstring).

    Raises:
        ConfigError: the first bound passed, naming the field.
    """
    try:
        _numbers(cfg)
        _horizon(cfg)
        _event_ticks(cfg)
        arrivals = _arrivals(cfg)
        _costs(cfg, arrivals)
    except _BoundError as exc:
        raise ConfigError(exc.message, source=source, path=exc.path) from None


class _BoundError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


# --------------------------------------------------------------------------- every number


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            field = type(value).model_fields[name]
            yield from _leaves(getattr(value, name), _join(path, field.alias or name))
        for name, extra in (value.model_extra or {}).items():
            yield from _leaves(extra, _join(path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, _join(path, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _numbers(cfg: ScenarioConfig) -> None:
    for path, value in _leaves(cfg, ""):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        name = path.rsplit(".", 1)[-1]
        if isinstance(value, int):
            limit = MAX_SEED if name == "rng_seed" else MAX_CENTS
            if abs(value) > limit:
                raise _BoundError(path, f"must be within ±{limit:,}, got {value:,}")
            continue
        if not math.isfinite(value):
            raise _BoundError(path, f"must be a finite number, got {value!r}")
        ceiling = _RATE_CEILINGS.get(name, MAX_NUMBER)
        if abs(value) > ceiling:
            raise _BoundError(path, f"must be at most {ceiling:g}, got {value:g}")


# --------------------------------------------------------------------------- horizon


def _horizon(cfg: ScenarioConfig) -> None:
    ticks = cfg.episode_ticks
    if ticks > MAX_EPISODE_TICKS:
        raise _BoundError(
            "simulation.num_days",
            f"ticks_per_day × num_days must be at most {MAX_EPISODE_TICKS:,} ticks, got {ticks:,}",
        )
    pairs = len(cfg.scenario_events) * ticks
    if pairs > MAX_EVENT_TICKS:
        raise _BoundError(
            "scenario_events",
            f"{len(cfg.scenario_events):,} events × {ticks:,} ticks is {pairs:,}; at most {MAX_EVENT_TICKS:,}",
        )


def _event_ticks(cfg: ScenarioConfig) -> None:
    last = cfg.episode_ticks - 1
    for i, event in enumerate(cfg.scenario_events):
        s = event.schedule
        tick, key = (s.tick, "tick") if isinstance(s, scenario_events.OneTime) else (s.start_tick, "start_tick")
        if tick > last:
            raise _BoundError(
                f"scenario_events[{i}].schedule.{key}",
                f"must be within the simulated horizon, ticks 0..{last} (ticks_per_day × num_days), got {tick}",
            )


def _fires(schedule: scenario_events.OneTime | scenario_events.Repeating, ticks: int) -> int:
    if isinstance(schedule, scenario_events.OneTime):
        return 1 if schedule.tick < ticks else 0
    if schedule.start_tick >= ticks:
        return 0
    return (ticks - 1 - schedule.start_tick) // schedule.interval + 1


# --------------------------------------------------------------------------- arrivals


def _max_draw(dist: AmountDistribution) -> float:
    """The largest amount (cents) ``dist`` can draw (module docstring)."""
    if isinstance(dist, UniformAmount):
        return float(dist.max)
    if isinstance(dist, NormalAmount):
        return dist.mean + NORMAL_DRAW_MAX * dist.std_dev
    if isinstance(dist, LogNormalAmount):
        sigma2 = math.log1p((dist.std_dev / dist.mean) ** 2)
        exponent = math.log(dist.mean) - sigma2 / 2 + NORMAL_DRAW_MAX * math.sqrt(sigma2)
        return math.inf if exponent > 700 else math.exp(exponent)
    return EXPONENTIAL_DRAW_MAX / dist.lambda_  # the one distribution left


def poisson_bound(mean: float) -> int:
    """A count a Poisson variable of this mean exceeds with probability below 10⁻³⁰."""
    return math.ceil(mean + 12 * math.sqrt(mean) + 40) if mean > 0 else 0


def _rate_log_peak(cfg: ScenarioConfig, agent: str, ticks: int) -> float:
    """log of the largest factor the arrival-rate events can put on ``agent``'s rate.

    Agent events multiply the agent's base rate for good (their running product, in tick
    order, peaks somewhere); a global event sets the rate to base × multiplier until the next.
    """
    steps: list[tuple[int, int, float]] = []
    global_peak = 0.0
    for i, event in enumerate(cfg.scenario_events):
        if isinstance(event, scenario_events.GlobalArrivalRateChange) and _fires(event.schedule, ticks):
            global_peak = max(global_peak, math.log(event.multiplier))
        if isinstance(event, scenario_events.AgentArrivalRateChange) and event.agent == agent:
            s = event.schedule
            at = [s.tick] if isinstance(s, scenario_events.OneTime) else range(s.start_tick, ticks, s.interval)
            steps.extend((t, i, math.log(event.multiplier)) for t in at if t < ticks)
    running = peak = 0.0
    for _t, _i, step in sorted(steps):
        running += step
        peak = max(peak, running)
    return peak + global_peak


def _streams(agent: AgentConfig, i: int) -> list[tuple[str, ArrivalConfig | ArrivalBand]]:
    """The agent's stochastic arrival streams with the dotted path of each: its
    ``arrival_config``, or each band of its ``arrival_bands``."""
    if agent.arrival_config is not None:
        return [(f"agents[{i}].arrival_config", agent.arrival_config)]
    bands = agent.arrival_bands.present() if agent.arrival_bands is not None else []
    return [(f"agents[{i}].arrival_bands.{name}", band) for name, band in bands]


def _arrivals(cfg: ScenarioConfig) -> dict[str, tuple[int, float]]:
    """Per agent: (bound on its stochastic payments per sample, largest amount)."""
    ticks = cfg.episode_ticks
    out: dict[str, tuple[int, float]] = {}
    expected_total = 0.0
    for i, agent in enumerate(cfg.agents):
        expected_agent, largest_agent = 0.0, 0.0
        for where, arrivals in _streams(agent, i):
            if arrivals.rate_per_tick == 0:
                continue
            peak_log = math.log(arrivals.rate_per_tick) + _rate_log_peak(cfg, agent.id, ticks)
            if peak_log > math.log(MAX_RATE_PER_TICK):
                shown = f"{math.exp(peak_log):.3g}" if peak_log < 700 else "beyond 1e300"
                raise _BoundError(
                    f"{where}.rate_per_tick",
                    f"with the arrival-rate events the rate reaches {shown} per tick; at most {MAX_RATE_PER_TICK:g}",
                )
            expected = math.exp(peak_log) * ticks
            expected_total += expected
            expected_agent += expected
            if expected_total > MAX_EXPECTED_ARRIVALS:
                raise _BoundError(
                    f"{where}.rate_per_tick",
                    f"up to {expected_total:,.0f} expected "
                    f"payments per sample (rates × {ticks:,} ticks, all agents so far); "
                    f"at most {MAX_EXPECTED_ARRIVALS:,}",
                )
            weights = [arrivals.counterparty_weights.get(a.id, 1.0) for a in cfg.agents if a.id != agent.id]
            if weights and sum(weights) <= 0:
                raise _BoundError(
                    f"{where}.counterparty_weights",
                    "the weights of the other agents sum to zero, so no receiver can be drawn",
                )
            largest = _max_draw(arrivals.amount_distribution)
            if largest > MAX_CENTS:
                shown = f"{largest:.3g}" if math.isfinite(largest) else "beyond 1e300"
                raise _BoundError(
                    f"{where}.amount_distribution",
                    f"draws can reach {shown} cents; at most {MAX_CENTS:,} (see docs/limits.md)",
                )
            largest_agent = max(largest_agent, largest)
        out[agent.id] = (poisson_bound(expected_agent), largest_agent) if expected_agent else (0, 0.0)
    return out


# --------------------------------------------------------------------------- costs


def _event_money(cfg: ScenarioConfig) -> tuple[dict[str, int], dict[str, int], dict[str, int], int]:
    """Event payments per sender (count, value), collateral moved per agent, transfers."""
    ticks = cfg.episode_ticks
    count: dict[str, int] = {}
    value: dict[str, int] = {}
    collateral: dict[str, int] = {}
    transfers = 0
    for event in cfg.scenario_events:
        n = _fires(event.schedule, ticks)
        if isinstance(event, scenario_events.CustomTransactionArrival):
            count[event.from_agent] = count.get(event.from_agent, 0) + n
            value[event.from_agent] = value.get(event.from_agent, 0) + n * event.amount
        elif isinstance(event, scenario_events.DirectTransfer | scenario_events.ScheduledSettlement):
            transfers += n * event.amount
        elif isinstance(event, scenario_events.CollateralAdjustment):
            collateral[event.agent] = collateral.get(event.agent, 0) + n * abs(event.delta)
    return count, value, collateral, transfers


def _penalty_total(penalty: Penalty, payments: int, value: int) -> int:
    if isinstance(penalty, RatePenalty):
        return value * math.floor(penalty.bps_per_event * 10**6) // 10**10 + payments
    amount = penalty.amount if isinstance(penalty, FixedPenalty) else int(penalty)
    return payments * amount


def _eod_key(rates: CostRates) -> str:
    spelled = "eod_penalty_per_transaction" if rates.eod_penalty_per_transaction is not None else "eod_penalty"
    return f"cost_rates.{spelled}"


def _costs(cfg: ScenarioConfig, arrivals: dict[str, tuple[int, float]]) -> None:
    from runner.engine.rates import BPS_DEN, DELAY_DEN, OVERDRAFT_DEN, ScaledRates

    rates = ScaledRates.from_config(cfg.cost_rates)
    ticks, days = cfg.episode_ticks, cfg.simulation.num_days
    ev_count, ev_value, ev_collateral, transfers = _event_money(cfg)
    sent = {a.id: arrivals[a.id][0] * math.ceil(arrivals[a.id][1]) + ev_value.get(a.id, 0) for a in cfg.agents}
    moved = sum(sent.values()) + transfers  # every payment and transfer of the sample
    weight = max(rates.overdue_mult, 1000) * max(*rates.prio_mult, 1000) // 1000
    total = 0
    blame: dict[str, int] = {}
    for i, agent in enumerate(cfg.agents):
        payments = arrivals[agent.id][0] + ev_count.get(agent.id, 0)
        collateral = (
            agent.posted_collateral
            + (agent.max_collateral_capacity or 10 * agent.unsecured_cap)
            + ev_collateral.get(agent.id, 0)
        )
        balance = (
            abs(agent.opening_balance) + agent.unsecured_cap + (agent.liquidity_pool or 0) * days + collateral + moved
        )
        if balance > COST_LIMIT:
            raise _BoundError(
                f"agents[{i}]",
                f"balances could reach {balance:.3g} cents (its money plus "
                f"every payment of a sample), beyond int64 headroom ({COST_LIMIT:.3g})",
            )
        delay_weight = sent[agent.id] * weight
        if delay_weight > COST_LIMIT:
            raise _BoundError(
                "cost_rates.overdue_delay_multiplier",
                f"agent {agent.id}'s delay weight "
                f"(value × multipliers) could reach {delay_weight:.3g}, beyond int64 "
                f"headroom ({COST_LIMIT:.3g})",
            )
        parts = {
            "cost_rates.overdraft_bps_per_tick": ticks * (balance * rates.overdraft // OVERDRAFT_DEN + 1),
            "cost_rates.delay_cost_per_tick_per_cent": ticks * (delay_weight * rates.delay // DELAY_DEN + 1),
            "cost_rates.collateral_cost_per_tick_bps": ticks * (collateral * rates.collateral // BPS_DEN + 1),
            "cost_rates.liquidity_cost_per_tick_bps": ticks
            * ((agent.liquidity_pool or 0) * rates.liquidity // BPS_DEN + 1),
            "cost_rates.deadline_penalty": _penalty_total(cfg.cost_rates.deadline_penalty, payments, sent[agent.id]),
            _eod_key(cfg.cost_rates): days * _penalty_total(cfg.cost_rates.eod, payments, sent[agent.id]),
            "cost_rates.split_friction_cost": payments * ticks * cfg.cost_rates.split_friction_cost,
        }
        for key, part in parts.items():
            blame[key] = blame.get(key, 0) + part
        total += sum(parts.values())
    if total > COST_LIMIT:
        worst = max(blame, key=lambda k: blame[k])
        raise _BoundError(
            worst,
            f"with these amounts, rates and {ticks:,} ticks one sample's cost could "
            f"reach {total:.3g} cents, beyond int64 headroom ({COST_LIMIT:.3g}); this term "
            "is the largest: lower it, the amounts or the horizon",
        )
