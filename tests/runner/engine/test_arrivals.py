"""Per-band arrivals and the events that change arrival streams (runner.engine.arrivals).

Schedules are inputs to both engines, so these features run everywhere. Each test draws many
payments and checks the rule on every one of them (not on an average)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from runner.engine.schedule import generate_schedule
from runner.scenario.config import ScenarioConfig

AMOUNT = {"type": "Uniform", "min": 100, "max": 100}


def config(agents: list[dict[str, Any]], events: list[dict[str, Any]] | None = None, ticks: int = 40) -> ScenarioConfig:
    return ScenarioConfig.model_validate(
        {
            "simulation": {"ticks_per_day": ticks},
            "lsm_config": {"enable_cycles": False},
            "agents": agents,
            "scenario_events": events or [],
        }
    )


def band(rate: float, lo: int = 3, hi: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "rate_per_tick": rate,
        "amount_distribution": AMOUNT,
        "deadline_offset_min": lo,
        "deadline_offset_max": hi,
        **extra,
    }


@pytest.mark.parametrize(
    ("bands", "allowed"),
    [
        ({"urgent": band(2.0)}, range(8, 11)),
        ({"normal": band(2.0)}, range(4, 8)),
        ({"low": band(2.0)}, range(0, 4)),
        ({"urgent": band(1.0), "low": band(1.0)}, [*range(0, 4), *range(8, 11)]),
    ],
)
def test_band_priorities_stay_in_their_band(bands: dict[str, Any], allowed: range) -> None:
    cfg = config([{"id": "A", "opening_balance": 0, "arrival_bands": bands}, {"id": "B", "opening_balance": 0}])
    s = generate_schedule(cfg, 3)
    assert s.n_payments > 40
    assert set(s.priority.tolist()) <= set(allowed)
    assert (s.sender == 0).all() and (s.receiver == 1).all()
    offsets = s.deadline - s.arrival
    uncapped = s.deadline < 39
    assert ((offsets[uncapped] >= 3) & (offsets[uncapped] <= 5)).all()


def test_each_band_draws_its_own_stream() -> None:
    """An urgent band of rate 0 adds nothing; the normal band's payments all carry normal
    priorities and its own deadline window."""
    cfg = config(
        [
            {"id": "A", "opening_balance": 0, "arrival_bands": {"urgent": band(0.0, 1, 1), "normal": band(3.0, 7, 7)}},
            {"id": "B", "opening_balance": 0},
        ],
        ticks=100,
    )
    s = generate_schedule(cfg, 5)
    assert ((s.priority >= 4) & (s.priority <= 7)).all()
    assert ((s.deadline - s.arrival)[s.arrival < 90] == 7).all()


def test_counterparty_weight_change_redirects_payments_from_its_tick() -> None:
    agents = [
        {
            "id": "A",
            "opening_balance": 0,
            "arrival_config": {
                "rate_per_tick": 3.0,
                "amount_distribution": AMOUNT,
                "counterparty_weights": {"B": 1.0, "C": 0.0},
                "deadline_range": [5, 5],
            },
        },
        {"id": "B", "opening_balance": 0},
        {"id": "C", "opening_balance": 0},
    ]
    at10 = {"type": "OneTime", "tick": 10}
    events = [
        {"type": "CounterpartyWeightChange", "agent": "A", "counterparty": "C", "new_weight": 1.0, "schedule": at10},
        {"type": "CounterpartyWeightChange", "agent": "A", "counterparty": "B", "new_weight": 0.0, "schedule": at10},
    ]
    s = generate_schedule(config(agents, events), 2)
    assert (s.receiver[s.arrival < 10] == 1).all() and (s.arrival < 10).sum() > 10
    assert (s.receiver[s.arrival >= 10] == 2).all() and (s.arrival >= 10).sum() > 10


def test_deadline_window_change_scales_the_offsets_from_its_tick() -> None:
    """Offsets 2–3 become round(2 × 1.5) = 3 to round(3 × 2) = 6 from tick 10, then (again,
    cumulative) round(4.5) = 5 to 12 from tick 20."""
    agents = [
        {
            "id": "A",
            "opening_balance": 0,
            "arrival_config": {"rate_per_tick": 4.0, "amount_distribution": AMOUNT, "deadline_range": [2, 3]},
        },
        {"id": "B", "opening_balance": 0},
    ]
    change = {
        "type": "DeadlineWindowChange",
        "min_ticks_multiplier": 1.5,
        "max_ticks_multiplier": 2.0,
        "schedule": {"type": "Repeating", "start_tick": 10, "interval": 10},
    }
    s = generate_schedule(config([*agents], [change], ticks=60), 4)
    off = s.deadline - s.arrival
    for lo, hi, first, last in [(2, 3, 0, 10), (3, 6, 10, 20), (5, 12, 20, 30)]:
        mine = (s.arrival >= first) & (s.arrival < last)
        assert mine.sum() > 10
        assert set(np.unique(off[mine]).tolist()) <= set(range(lo, hi + 1))
        assert off[mine].min() == lo and off[mine].max() == hi


def test_band_rates_ignore_rate_events() -> None:
    """Rate events change arrival_config streams only (as in SimCash)."""
    agents = [
        {"id": "A", "opening_balance": 0, "arrival_bands": {"normal": band(2.0)}},
        {"id": "B", "opening_balance": 0},
    ]
    stop = [{"type": "GlobalArrivalRateChange", "multiplier": 0.000001, "schedule": {"type": "OneTime", "tick": 0}}]
    assert generate_schedule(config(agents, stop), 1).n_payments == generate_schedule(config(agents), 1).n_payments
