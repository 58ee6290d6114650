"""LLM slots: bounded, handed to the run with the most iterations left, never leaked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runner.proposals import PolicyGenerationResult
from sweep.limits import GatedProposer, LocalLimiter, PriorityGate


def test_freed_slots_go_to_the_highest_priority_first_come_first_served_among_equals() -> None:
    async def scenario() -> list[str]:
        gate = PriorityGate(1)
        await gate.acquire()  # the slot is taken: everyone below waits
        granted: list[str] = []

        async def wait(name: str, priority: int) -> None:
            await gate.acquire(priority)
            granted.append(name)
            await asyncio.sleep(0)
            gate.release()

        tasks = []
        for name, priority in (("low", 1), ("high-1", 5), ("mid", 3), ("high-2", 5)):
            tasks.append(asyncio.create_task(wait(name, priority)))
            await asyncio.sleep(0)  # queued in this order
        gate.release()
        await asyncio.gather(*tasks)
        assert gate.free == 1
        return granted

    assert asyncio.run(scenario()) == ["high-1", "high-2", "mid", "low"]


def test_a_cancelled_waiter_leaks_no_slot() -> None:
    async def scenario() -> int:
        gate = PriorityGate(2)
        await gate.acquire()
        await gate.acquire()
        waiter = asyncio.create_task(gate.acquire(7))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        gate.release()
        gate.release()
        return gate.free

    assert asyncio.run(scenario()) == 2


def test_concurrency_never_exceeds_the_limit() -> None:
    async def scenario() -> int:
        limiter = LocalLimiter({"openai/*": 3})
        inside, peak = 0, 0

        async def call(priority: int) -> None:
            nonlocal inside, peak
            await limiter.acquire("openai/fake", priority)
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.001)
            inside -= 1
            await limiter.release("openai/fake")

        await asyncio.gather(*(call(k % 4) for k in range(40)))
        return peak

    assert asyncio.run(scenario()) == 3


def test_gated_proposer_asks_with_the_iterations_left() -> None:
    class Recording(LocalLimiter):
        def __init__(self) -> None:
            super().__init__()
            self.priorities: list[int] = []

        async def acquire(self, model: str, priority: int = 0) -> None:
            self.priorities.append(priority)

    class Inner:
        name = "openai/fake"

        async def propose(self, context: Any) -> PolicyGenerationResult:
            return PolicyGenerationResult(None, 1)

    class Context:
        def __init__(self, iteration: int) -> None:
            self.iteration = iteration

    limiter = Recording()
    proposer = GatedProposer(Inner(), limiter, None, max_iterations=25)
    for it in (1, 7, 25):
        asyncio.run(proposer.propose(Context(it)))  # type: ignore[arg-type]
    assert limiter.priorities == [24, 18, 0]


def test_spend_is_counted_against_a_budget_and_not_asked_for_without_one() -> None:
    """With a budget the spend of every proposal is added up (its interactions' costs) and
    a proposal after the budget is spent is refused; without one the limiter's spend is
    never asked for (on Ray each ask is a message to the gateway between two calls). The
    proposal's priority is what a call-gating transport sees (`PROPOSAL_PRIORITY`)."""
    from runner.proposals import LLMInteraction
    from sweep.limits import PROPOSAL_PRIORITY

    class Counting(LocalLimiter):
        asked = 0

        async def spent(self) -> float:
            self.asked += 1
            return await super().spent()

    class Inner:
        name = "openai/fake"

        def __init__(self) -> None:
            self.seen: list[int] = []

        async def propose(self, context: Any) -> PolicyGenerationResult:
            self.seen.append(PROPOSAL_PRIORITY.get())
            interaction = LLMInteraction(
                "A", context.iteration, 1, self.name, (), "{}", None, None, (), None, 10, 10, 0.4, 0.0
            )
            return PolicyGenerationResult(None, 1, interactions=(interaction,))

    class Context:
        def __init__(self, iteration: int) -> None:
            self.iteration = iteration

    free, inner = Counting(), Inner()
    unbudgeted = GatedProposer(inner, free, None, max_iterations=10)
    for it in (1, 2, 3):
        assert asyncio.run(unbudgeted.propose(Context(it))).errors == ()  # type: ignore[arg-type]
    assert free.asked == 0 and unbudgeted.stop_check() is None and inner.seen == [9, 8, 7]

    shared = Counting()
    budgeted = GatedProposer(Inner(), shared, 1.0, max_iterations=10)
    results = [asyncio.run(budgeted.propose(Context(it))) for it in range(4)]  # type: ignore[arg-type]
    assert [r.errors for r in results] == [(), (), (), ("sweep LLM budget exhausted",)]
    assert asyncio.run(shared.spent()) == pytest.approx(1.2) and budgeted.stop_check() == "budget"
