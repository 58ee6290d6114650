"""LLM concurrency per model pattern and the sweep's spend budget, shared by every run.

Runs reach the LLM through `GatedProposer`, which takes a slot from a limiter before each
proposal and reports the spend after it. The limiter is in-process (`LocalLimiter`) for the
local executor and one Ray actor (`sweep.actors.LimiterActor`) for a Ray sweep, so the
limits hold across all run actors. A run whose sweep has spent its budget stops cleanly with
reason ``budget``.
"""

from __future__ import annotations

import asyncio
import fnmatch
from typing import Protocol

from runner.proposals import PolicyGenerationResult, PolicyProposer, ProposalContext

BUDGET_STOP = "budget"


class Limiter(Protocol):
    async def acquire(self, model: str) -> None: ...

    async def release(self, model: str) -> None: ...

    async def add_spend(self, usd: float) -> float: ...

    async def spent(self) -> float: ...


def pattern_for(model: str, patterns: dict[str, int]) -> str | None:
    """The first concurrency pattern (fnmatch glob) matching ``model``, in sorted order."""
    for pattern in sorted(patterns):
        if fnmatch.fnmatch(model, pattern):
            return pattern
    return None


class LocalLimiter:
    """Per-pattern semaphores and a spend counter, for runs sharing one event loop/process."""

    def __init__(self, concurrency: dict[str, int] | None = None) -> None:
        self.concurrency = dict(concurrency or {})
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._spent = 0.0

    def _sem(self, model: str) -> asyncio.Semaphore | None:
        pattern = pattern_for(model, self.concurrency)
        if pattern is None:
            return None
        if pattern not in self._sems:
            self._sems[pattern] = asyncio.Semaphore(self.concurrency[pattern])
        return self._sems[pattern]

    async def acquire(self, model: str) -> None:
        sem = self._sem(model)
        if sem is not None:
            await sem.acquire()

    async def release(self, model: str) -> None:
        sem = self._sem(model)
        if sem is not None:
            sem.release()

    async def add_spend(self, usd: float) -> float:
        self._spent += usd
        return self._spent

    async def spent(self) -> float:
        return self._spent


class GatedProposer:
    """Wraps a proposer: one limiter slot per proposal, spend reported, budget enforced."""

    def __init__(self, inner: PolicyProposer, limiter: Limiter, budget_usd: float | None) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = limiter
        self.budget_usd = budget_usd
        self.sweep_spent = 0.0

    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.sweep_spent >= self.budget_usd

    def stop_check(self) -> str | None:
        """For the loop: stop with reason ``budget`` once the sweep's budget is spent."""
        return BUDGET_STOP if self.over_budget() else None

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult:
        self.sweep_spent = await self.limiter.spent()
        if self.over_budget():
            return PolicyGenerationResult(None, 0, errors=("sweep LLM budget exhausted",))
        await self.limiter.acquire(self.name)
        try:
            result = await self.inner.propose(context)
        finally:
            await self.limiter.release(self.name)
        spend = sum(i.cost_usd or 0.0 for i in result.interactions)
        self.sweep_spent = await self.limiter.add_spend(spend)
        return result
