"""The Ray side of `sweep.driver.run_sweep`: keep up to N run actors busy, collect outcomes.

Uses `ray.wait` over the in-flight runs (never `ray.get` in a loop). A run whose actor dies
for good (restarts exhausted) is recorded as failed; the others carry on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ray

from sweep.actors import LimiterActor, RunActor, init_ray
from sweep.expand import RunSpec
from sweep.run import CellInputs, RunOutcome
from sweep.store import ResultStore

POLL_SECONDS = 1.0


def run_on_ray(to_run: Sequence[RunSpec], store: ResultStore, store_root: str, *,
               address: str | None, num_cpus: int | None, concurrency: dict[str, int],
               budget_usd: float | None, max_in_flight: int | None, chunk_size: int,
               param_keys: Mapping[str, Any],
               on_update: Callable[[RunOutcome | None], None] | None = None) -> list[RunOutcome]:
    init_ray(address, num_cpus)
    # Run actors do CPU work of their own (context days, sampling): more of them than CPUs
    # only thrashes, so an unset cap means one run per CPU of the cluster.
    max_in_flight = max_in_flight or max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    limiter = LimiterActor.remote(concurrency)  # type: ignore[attr-defined]
    queue = list(to_run)
    in_flight: dict[Any, tuple[RunSpec, Any]] = {}
    outcomes: list[RunOutcome] = []
    while queue or in_flight:
        while queue and len(in_flight) < max_in_flight:
            spec = queue.pop(0)
            actor = RunActor.remote()  # type: ignore[attr-defined]
            ref = actor.run.remote(CellInputs.load(spec), store_root, limiter, budget_usd, chunk_size, param_keys)
            in_flight[ref] = (spec, actor)
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
        for ref in ready:
            spec, actor = in_flight.pop(ref)
            try:
                outcome = RunOutcome(**ray.get(ref))
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                store.set_status(spec.sweep, spec.run_id, "failed", attempt=1, error=error)
                outcome = RunOutcome(spec.run_id, "failed", error=error)
            ray.kill(actor)
            outcomes.append(outcome)
            if on_update:
                on_update(outcome)
        if not ready and on_update:
            on_update(None)  # a tick for the progress view
    return outcomes
