"""Hypothesis builders for the settlement-model features (issue #10): outflow limits, payment
rings (the gridlocks multilateral cycles resolve), per-band arrivals, the stream- and
credit-changing events, and the priority keys. `tests.runner.engine.strategies` draws them
behind switches (``limits``, ``scarce``, ``streams``, ``priorities``) that shrink to off."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


def _pick(r: random.Random, *options: Any) -> Any:
    return r.choice(options)


def build_limits(r: random.Random, me: str, ids: list[str]) -> dict[str, Any]:
    """Per-day outflow limits in one of SimCash's spellings: the agent's own
    ``bilateral_limits`` / ``multilateral_limit``, or the ``limits: {…}`` block, or a mix."""
    out: dict[str, Any] = {}
    others = [i for i in ids if i != me]
    bilateral = {
        c: _pick(r, 0, r.randint(0, 3_000), r.randint(500, 6_000)) for c in r.sample(others, r.randint(0, len(others)))
    }
    total = _pick(r, None, 0, r.randint(0, 5_000), r.randint(2_000, 20_000))
    block: dict[str, Any] = {}
    for key, value in (("bilateral_limits", bilateral), ("multilateral_limit", total)):
        if value is None or (key == "bilateral_limits" and not value and r.random() < 0.5):
            continue
        (block if r.random() < 0.5 else out)[key] = value
    if block:
        out["limits"] = block
    return out


def build_ring(r: random.Random, ids: list[str], episode: int) -> list[dict[str, Any]]:
    """Payments around a ring of 3+ banks (either orientation), arriving together with
    amounts that differ by little: the gridlock a multilateral cycle resolves."""
    ring = r.sample(ids, r.randint(3, len(ids))) if len(ids) >= 3 else list(ids)
    tick = r.randint(0, max(0, episode - 1))
    base = r.randint(100, 2_000)
    return [
        {
            "type": "CustomTransactionArrival",
            "schedule": {"type": "OneTime", "tick": tick},
            "from_agent": frm,
            "to_agent": ring[(i + 1) % len(ring)],
            "amount": base + _pick(r, 0, 0, r.randint(-100, 100)),
            "deadline": r.randint(1, 8),
        }
        for i, frm in enumerate(ring)
    ]


Arrivals = Callable[[random.Random, str, list[str]], dict[str, Any]]


def build_bands(r: random.Random, me: str, ids: list[str], arrivals: Arrivals) -> dict[str, Any]:
    """``arrival_bands``: some of urgent / normal / low, each its own arrival stream."""
    bands: dict[str, Any] = {}
    for name in r.sample(["urgent", "normal", "low"], r.randint(1, 3)):
        stream = arrivals(r, me, ids)
        band: dict[str, Any] = {
            "rate_per_tick": stream["rate_per_tick"],
            "amount_distribution": stream["amount_distribution"],
            "deadline_offset_min": stream["deadline_range"][0],
            "deadline_offset_max": stream["deadline_range"][1],
        }
        if r.random() < 0.5:
            band["counterparty_weights"] = stream["counterparty_weights"]
        bands[name] = band
    return bands


def add_stream_events(r: random.Random, raw: dict[str, Any], arrivals: Arrivals) -> None:
    """Per-band arrivals for some agents, and the events that change streams and credit:
    ``CollateralAdjustment`` (moves the unsecured cap), ``CounterpartyWeightChange``,
    ``DeadlineWindowChange``."""
    agents = raw["agents"]
    ids = [a["id"] for a in agents]
    episode = raw["simulation"]["ticks_per_day"] * raw["simulation"]["num_days"]
    for agent in agents:
        if r.random() < 0.4:
            agent.pop("arrival_config", None)
            agent["arrival_bands"] = build_bands(r, agent["id"], ids, arrivals)

    def when() -> dict[str, Any]:
        if r.random() < 0.5:
            return {"type": "OneTime", "tick": r.randint(0, episode - 1)}  # inside the horizon
        return {"type": "Repeating", "start_tick": r.randint(0, episode - 1), "interval": r.randint(1, episode + 1)}

    for _ in range(r.randint(1, 4)):
        kind = _pick(r, "CollateralAdjustment", "CounterpartyWeightChange", "DeadlineWindowChange")
        event: dict[str, Any] = {"type": kind, "schedule": when()}
        if kind == "CollateralAdjustment":  # raising only: a cap below zero is refused
            event.update(agent=r.choice(ids), delta=_pick(r, 0, r.randint(1, 2_000)))
        elif kind == "CounterpartyWeightChange":
            streams = [a["id"] for a in agents if "arrival_config" in a]
            if not streams:
                continue
            me = r.choice(streams)
            event.update(
                agent=me, counterparty=r.choice([i for i in ids if i != me]), new_weight=_pick(r, 0.5, 1.0, 3.0)
            )  # 0 could zero every weight
        else:
            for key in r.sample(["min_ticks_multiplier", "max_ticks_multiplier"], r.randint(1, 2)):
                event[key] = _pick(r, 0.5, 1.0, 1.5, 2.0)
        raw["scenario_events"].append(event)


def build_priorities(r: random.Random) -> dict[str, Any]:
    """Queue ordering and escalation keys: ``queue1_ordering``, ``priority_mode`` and
    ``priority_escalation`` (either spelling of its start)."""
    out: dict[str, Any] = {"queue1_ordering": _pick(r, "fifo", "priority_deadline"), "priority_mode": r.random() < 0.5}
    if r.random() < 0.7:
        escalation: dict[str, Any] = {"enabled": r.random() < 0.8, "max_boost": r.randint(0, 10)}
        start_key = _pick(r, None, "start_escalating_at_ticks", "threshold_ticks")
        if start_key is not None:
            escalation[start_key] = r.randint(1, 12)
        out["priority_escalation"] = escalation
    return out
