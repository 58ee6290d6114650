"""Wall time of one exp2 bootstrap iteration: batch engine vs. the reference engine.

An iteration is what `OptimizationLoop` does between two reference reports: simulate the
context day(s), then for each of the 2 agents build 50 bootstrap samples, evaluate the
current policy, ask the proposer (builtin/coordinate, no network), evaluate the proposal on
the same samples and decide; then score both agents on the 200-sample reference set. The
loop skips that last evaluation when no policy changed (same policies, same fixed samples:
same costs); here it is always made, as the iteration the issue defines includes it, and so
that every timed iteration does the same work.

The baseline runs the *same loop code* with an executor that simulates sample by sample
with the reference engine, so the ratio measures the engine, not a different workflow.

Run: ``.venv/bin/python benchmarks/iteration.py``
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

from runner.engine.reference import ReferenceEngine  # noqa: E402
from runner.engine.results import CostTable  # noqa: E402
from runner.engine.schedule import Schedule  # noqa: E402
from runner.engine.setup import EngineSetup  # noqa: E402
from runner.experiment.config import ExperimentConfig  # noqa: E402
from runner.experiment.events import LiveStateProvider  # noqa: E402
from runner.experiment.executor import EvaluationExecutor, InProcessExecutor  # noqa: E402
from runner.experiment.loop import OptimizationLoop  # noqa: E402
from runner.experiment.proposers import CoordinateProposer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class SampleBySampleExecutor:
    """The baseline: each sample simulated on its own by the reference engine."""

    def evaluate(self, setup: EngineSetup, samples: Sequence[Schedule]) -> CostTable:
        engine = ReferenceEngine(setup)
        return CostTable.concat([engine.run(s)[0] for s in samples])


def iteration_times(executor: EvaluationExecutor, iterations: int, overrides: list[str]) -> list[float]:
    cfg = ExperimentConfig.from_yaml(ROOT / "experiments/castro/exp2.yaml", overrides)
    loop = OptimizationLoop(
        cfg, cfg.load_scenario(), CoordinateProposer(cfg.get_constraints()), executor, LiveStateProvider("bench")
    )
    times = []
    with asyncio.Runner() as runner:  # one event loop for the run, as `OptimizationLoop.run`
        for it in range(1, iterations + 1):
            start = time.perf_counter()
            context = loop.simulate_context_day(it)
            for agent in cfg.optimized_agents:
                runner.run(loop.optimize_agent(agent, it, context))
            loop._reference_cache.clear()  # always score the reference set (see the module doc)
            loop.report_reference(it, accepted_any=False)
            times.append(time.perf_counter() - start)
    return times


def main() -> int:
    rows = []
    for label, overrides in (
        ("exp2 as shipped (context_days 10)", []),
        ("exp2, one context day", ["evaluation.context_days=1"]),
    ):
        batch = iteration_times(InProcessExecutor(), 8, overrides)[1:]  # first one warms up
        reference = iteration_times(SampleBySampleExecutor(), 3, overrides)
        b, r = statistics.median(batch), statistics.median(reference)
        rows.append((label, b, r))
        print(f"{label}:")
        print(f"  batch engine      {b * 1000:8.1f} ms / iteration  (median of {len(batch)})")
        print(f"  sample by sample  {r * 1000:8.1f} ms / iteration  (median of {len(reference)})")
        print(f"  speed-up          {r / b:8.1f} x")
    ok = True
    for label, b, r in rows:
        for name, passed, text in (
            ("≤ 50 ms", b <= 0.050, f"{b * 1000:.1f} ms"),
            ("≥ 20× sample by sample", r / b >= 20, f"{r / b:.1f}x"),
        ):
            print(f"{'PASS' if passed else 'FAIL'}  {label}: {name} ({text})")
            ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
