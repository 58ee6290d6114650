"""Where sample evaluations run: the seam between the loop and in-process or Ray execution.

An executor takes an engine setup and samples and returns their `CostTable`. Because samples
carry their own seeds and the batch engine treats samples independently, splitting the work
into chunks (or across Ray workers) cannot change a single cent of the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from runner.engine.batch import evaluate_batch
from runner.engine.results import CostTable
from runner.engine.schedule import Schedule
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup


@runtime_checkable
class EvaluationExecutor(Protocol):
    """Evaluates samples under a setup; every implementation returns identical tables.

    Tables are summaries (`CostTable.summary`: per sample, day, agent; no per-payment
    settlement ticks) — what comparing policies needs, and cheap to ship between processes.
    """

    def evaluate(self, setup: EngineSetup, samples: Sequence[Schedule]) -> CostTable: ...


class InProcessExecutor:
    """Evaluates in this process, ``chunk_size`` samples per batch-engine call."""

    def __init__(self, chunk_size: int = 1000) -> None:
        self.chunk_size = chunk_size

    def evaluate(self, setup: EngineSetup, samples: Sequence[Schedule]) -> CostTable:
        batch = ScheduleBatch.of(samples)
        if len(batch) <= self.chunk_size:  # the batch itself: the engine reuses its layout
            return evaluate_batch(setup, batch).summary()
        chunks = [batch[i : i + self.chunk_size] for i in range(0, len(batch), self.chunk_size)]
        tables = [evaluate_batch(setup, chunk).summary() for chunk in chunks]
        return tables[0] if len(tables) == 1 else CostTable.concat(tables)
