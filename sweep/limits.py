"""LLM concurrency per model pattern and the sweep's spend budget, shared by every run.

Runs reach the LLM through `GatedProposer`, which takes a slot from a limiter before each
proposal and reports the spend after it. A freed slot goes to the waiting run with the most
iterations left (first come first served among equals): each run's proposals form a chain,
and serving the longest remaining chains first (the LPT rule) keeps the sweep's tail short —
served in turn, runs that started late (run actors boot a few at a time) would be left to
finish on their own while most slots sit idle. The limiter is in-process (`LocalLimiter`) for the
local executor. In a Ray sweep the LLM gateway actor (`sweep.actors.LLMGatewayActor`), which
makes every run's calls, holds one `LocalLimiter` and gates each call itself, with the
priority of the proposal it belongs to (`PROPOSAL_PRIORITY`), so the limits hold across all
run actors and a freed slot is taken at once. A run whose sweep has spent its budget stops
cleanly with reason ``budget``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import heapq
import itertools
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Protocol

from runner.experiment.status import StopReason
from runner.proposals import PolicyGenerationResult, PolicyProposer, ProposalContext

# The priority of the proposal being made in this task (iterations left after it), set by
# `GatedProposer`: a transport that gates each call itself (the Ray LLM gateway) sends it along.
PROPOSAL_PRIORITY: ContextVar[int] = ContextVar("proposal_priority", default=0)


class Limiter(Protocol):
    async def acquire(self, model: str, priority: int = 0) -> None: ...

    async def release(self, model: str) -> None: ...

    async def add_spend(self, usd: float) -> float: ...

    async def spent(self) -> float: ...


def pattern_for(model: str, patterns: dict[str, int]) -> str | None:
    """The first concurrency pattern (fnmatch glob) matching ``model``, in sorted order."""
    for pattern in sorted(patterns):
        if fnmatch.fnmatch(model, pattern):
            return pattern
    return None


class PriorityGate:
    """A semaphore whose freed slots go to the waiter of highest priority (FIFO among equals)."""

    def __init__(self, slots: int) -> None:
        self.free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int = 0) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted as it was cancelled
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():  # hand the slot over
                future.set_result(None)
                return
        self.free += 1


class LocalLimiter:
    """Per-pattern slots and a spend counter, for runs sharing one event loop/process."""

    def __init__(self, concurrency: dict[str, int] | None = None) -> None:
        self.concurrency = dict(concurrency or {})
        self._gates: dict[str, PriorityGate] = {}
        self._spent = 0.0

    def _gate(self, model: str) -> PriorityGate | None:
        pattern = pattern_for(model, self.concurrency)
        if pattern is None:
            return None
        if pattern not in self._gates:
            self._gates[pattern] = PriorityGate(self.concurrency[pattern])
        return self._gates[pattern]

    async def acquire(self, model: str, priority: int = 0) -> None:
        gate = self._gate(model)
        if gate is not None:
            await gate.acquire(priority)

    async def release(self, model: str) -> None:
        gate = self._gate(model)
        if gate is not None:
            gate.release()

    @contextlib.asynccontextmanager
    async def slot(self, model: str, priority: int = 0) -> AsyncIterator[None]:
        """A slot of ``model``'s pattern, held for the ``async with`` block."""
        await self.acquire(model, priority)
        try:
            yield
        finally:
            await self.release(model)

    async def add_spend(self, usd: float) -> float:
        self._spent += usd
        return self._spent

    async def spent(self) -> float:
        return self._spent


class GatedProposer:
    """Wraps a proposer: one limiter slot per proposal, spend reported, budget enforced.

    Args:
        max_iterations: the run's iteration cap; a proposal's priority for a slot is the
            number of iterations left after it (see the module doc).
    """

    def __init__(
        self, inner: PolicyProposer, limiter: Limiter, budget_usd: float | None, max_iterations: int = 0
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = limiter
        self.budget_usd = budget_usd
        self.max_iterations = max_iterations
        self.sweep_spent = 0.0

    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.sweep_spent >= self.budget_usd

    def stop_check(self) -> StopReason | None:
        """For the loop: stop with reason ``budget`` once the sweep's budget is spent."""
        return StopReason.BUDGET if self.over_budget() else None

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult:
        # Without a budget the spend is not asked for nor reported: on Ray each would be a
        # message to the gateway between two of the run's calls, while its slot waits.
        if self.budget_usd is not None:
            self.sweep_spent = await self.limiter.spent()
            if self.over_budget():
                return PolicyGenerationResult(None, 0, errors=("sweep LLM budget exhausted",))
        priority = max(0, self.max_iterations - context.iteration)
        PROPOSAL_PRIORITY.set(priority)
        await self.limiter.acquire(self.name, priority)
        try:
            result = await self.inner.propose(context)
        finally:
            await self.limiter.release(self.name)
        if self.budget_usd is not None:
            self.sweep_spent = await self.limiter.add_spend(sum(i.cost_usd or 0.0 for i in result.interactions))
        return result
