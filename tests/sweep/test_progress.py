"""`SweepProgress.line`: the counts, iterations, spend and best cost of the sweep's runs."""

from __future__ import annotations

import io

import pytest

from runner.experiment.status import RunStatus
from sweep.progress import SweepProgress
from sweep.store import MemoryStore

SWEEP = "s"


@pytest.mark.parametrize("use_enum", [True, False])  # members and the strings read back alike
def test_line_counts_each_status_and_sums_progress(use_enum: bool) -> None:
    def status(s: RunStatus) -> str:
        return s if use_enum else s.value

    store = MemoryStore()
    store.set_status(
        SWEEP,
        "a",
        status(RunStatus.DONE),
        attempt=1,
        progress={"iteration": 3, "total": 12_345, "llm_calls": 4, "llm_cost_usd": 0.5},
    )
    store.set_status(SWEEP, "b", status(RunStatus.DONE), attempt=1, progress={"iteration": 2, "total": 9_900})
    store.set_status(
        SWEEP,
        "c",
        status(RunStatus.RUNNING),
        attempt=1,
        progress={"iteration": 1, "total": 100, "llm_calls": 1, "llm_cost_usd": 0.25},
    )
    store.set_status(SWEEP, "d", status(RunStatus.FAILED), attempt=2, error="boom")
    store.set_status(SWEEP, "x", status(RunStatus.DONE), attempt=1, progress={"total": 1})  # not this run set
    line = SweepProgress(store, SWEEP, ["a", "b", "c", "d", "e", "f"], stream=io.StringIO()).line()
    assert line.startswith(
        "sweep s: 6 runs — done 2, running 1, failed 1, pending 2 | iterations 6 | "
        "LLM calls 5, $0.75 | best run $99.00 | "
    )
