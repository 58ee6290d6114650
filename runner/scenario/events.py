"""Scenario events (``scenario_events``): what they are and when they fire (reference §3.4).

One of the scenario models' concept modules; `runner.scenario.config.ScenarioConfig` holds the
list and checks that every agent an event names exists.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runner.config_base import Strict


class OneTime(Strict):
    type: Literal["OneTime"]
    tick: int = Field(ge=0)


class Repeating(Strict):
    type: Literal["Repeating"]
    start_tick: int = Field(ge=0)
    interval: int = Field(gt=0)


# When a scenario event fires (YAML key ``schedule``); not to be confused with the engine's
# `runner.engine.schedule.Schedule`, one sampled day of payments.
EventTiming = Annotated[OneTime | Repeating, Field(discriminator="type")]


class _Event(Strict):
    schedule: EventTiming

    def fires_at(self, tick: int) -> bool:
        s = self.schedule
        if isinstance(s, OneTime):
            return tick == s.tick
        return tick >= s.start_tick and (tick - s.start_tick) % s.interval == 0


class CustomTransactionArrival(_Event):
    type: Literal["CustomTransactionArrival"]
    from_agent: str
    to_agent: str
    amount: int = Field(gt=0)
    priority: int = Field(default=5, ge=0, le=10)
    deadline: int | None = Field(default=None, gt=0)
    is_divisible: bool = False


class DirectTransfer(_Event):
    type: Literal["DirectTransfer"]
    from_agent: str
    to_agent: str
    amount: int = Field(gt=0)


class ScheduledSettlement(_Event):
    type: Literal["ScheduledSettlement"]
    from_agent: str
    to_agent: str
    amount: int = Field(gt=0)


class CollateralAdjustment(_Event):
    type: Literal["CollateralAdjustment"]
    agent: str
    delta: int


class GlobalArrivalRateChange(_Event):
    type: Literal["GlobalArrivalRateChange"]
    multiplier: float = Field(gt=0)


class AgentArrivalRateChange(_Event):
    type: Literal["AgentArrivalRateChange"]
    agent: str
    multiplier: float = Field(gt=0)


class CounterpartyWeightChange(_Event):
    type: Literal["CounterpartyWeightChange"]
    agent: str
    counterparty: str
    new_weight: float = Field(ge=0)
    auto_balance_others: bool = False


class DeadlineWindowChange(_Event):
    type: Literal["DeadlineWindowChange"]
    min_ticks_multiplier: float | None = Field(default=None, gt=0)
    max_ticks_multiplier: float | None = Field(default=None, gt=0)


ScenarioEvent = Annotated[
    CustomTransactionArrival
    | DirectTransfer
    | ScheduledSettlement
    | CollateralAdjustment
    | GlobalArrivalRateChange
    | AgentArrivalRateChange
    | CounterpartyWeightChange
    | DeadlineWindowChange,
    Field(discriminator="type"),
]


def cap_adjustment_error(events: list[ScenarioEvent], episode_ticks: int, caps: dict[str, int]) -> str | None:
    """Why a `CollateralAdjustment` takes an unsecured cap below zero (SimCash stops the run
    there), checked over the whole episode before anything runs; None if none does."""
    adjustments = [(i, e) for i, e in enumerate(events) if isinstance(e, CollateralAdjustment)]
    cap = dict(caps)
    for t in range(episode_ticks if adjustments else 0):
        for i, event in adjustments:
            if event.fires_at(t):
                cap[event.agent] += event.delta
                if cap[event.agent] < 0:
                    return (
                        f"scenario_events[{i}].delta: takes the unsecured cap of "
                        f"'{event.agent}' below 0 at tick {t} (to {cap[event.agent]})"
                    )
    return None
