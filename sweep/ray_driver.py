"""The Ray side of `sweep.driver.run_sweep`: keep up to N run actors busy, collect outcomes.

Uses `ray.wait` over the in-flight runs and starting actors (never `ray.get` in a loop). A
run whose actor dies for good (restarts exhausted) is recorded as failed; the others carry
on. If any cell asks an LLM, one `LLMGatewayActor` makes every run's calls; it is created
first, so its litellm import overlaps the start of the run actors.

Actor processes start at most one per CPU at a time (the gateway's included): a new run
actor is created once fewer are still starting. Started all at once, they share the CPUs
evenly, so each one, and the gateway's multi-second litellm import above all, is ready only
near the end of the stampede: 16 run actors started at once on a busy 2-core machine left
the gateway ready after 25 s, one per CPU at a time after 8 s (the sweep of
benchmarks/sweep.py, part a), and no LLM call can start before it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import ray

from sweep.actors import LimiterActor, RunActor, init_ray, start_gateway
from sweep.expand import RunSpec
from sweep.run import CellInputs, RunOutcome
from sweep.store import ResultStore
from sweep.tables import run_row

POLL_SECONDS = 1.0


def run_on_ray(to_run: Sequence[RunSpec], store: ResultStore, store_root: str, *,
               address: str | None, num_cpus: int | None, concurrency: dict[str, int],
               budget_usd: float | None, max_in_flight: int | None, chunk_size: int,
               param_keys: Mapping[str, Any],
               on_update: Callable[[RunOutcome | None], None] | None = None) -> list[RunOutcome]:
    init_ray(address, num_cpus)
    gateway = start_gateway(spec.config.llm for spec in to_run)  # None when every model is builtin
    try:
        return _run_all(to_run, store, store_root, gateway, concurrency=concurrency, budget_usd=budget_usd,
                        max_in_flight=max_in_flight, chunk_size=chunk_size, param_keys=param_keys,
                        on_update=on_update)
    finally:
        if gateway is not None:
            ray.kill(gateway)


def _run_all(to_run: Sequence[RunSpec], store: ResultStore, store_root: str, gateway: Any | None, *,
             concurrency: dict[str, int], budget_usd: float | None, max_in_flight: int | None,
             chunk_size: int, param_keys: Mapping[str, Any],
             on_update: Callable[[RunOutcome | None], None] | None) -> list[RunOutcome]:
    # Run actors do CPU work of their own (context days, sampling): more of them than CPUs
    # only thrashes, so an unset cap means one run per CPU of the cluster.
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    max_in_flight = max_in_flight or cpus
    limiter = LimiterActor.remote(concurrency)  # type: ignore[attr-defined]
    queue = list(to_run)
    in_flight: dict[Any, tuple[RunSpec, Any, datetime]] = {}
    # Refs that resolve (to a pid, or to the error of a death) once an actor's process is up.
    starting: set[Any] = {gateway.pid.remote()} if gateway is not None else set()
    outcomes: list[RunOutcome] = []
    while queue or in_flight:
        while queue and len(in_flight) < max_in_flight and len(starting) < cpus:
            spec = queue.pop(0)
            actor = RunActor.remote()  # type: ignore[attr-defined]
            starting.add(actor.pid.remote())  # before run: an actor serves one caller's calls in order
            ref = actor.run.remote(CellInputs.load(spec), store_root, limiter, budget_usd, chunk_size, param_keys,
                                   gateway)
            in_flight[ref] = (spec, actor, datetime.now(timezone.utc))
        ready, _ = ray.wait([*in_flight, *starting], num_returns=1, timeout=POLL_SECONDS)
        starting.difference_update(ready)
        finished = [ref for ref in ready if ref in in_flight]
        for ref in finished:
            spec, actor, started = in_flight.pop(ref)
            try:
                outcome = RunOutcome(**ray.get(ref))
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                outcome = _record_failure(store, spec, error, started, param_keys)
            ray.kill(actor)
            outcomes.append(outcome)
            if on_update:
                on_update(outcome)
        if not finished and on_update:
            on_update(None)  # a tick for the progress view
    return outcomes


def _record_failure(store: ResultStore, spec: RunSpec, error: str, started: datetime,
                    param_keys: Mapping[str, Any]) -> RunOutcome:
    """Record a run that `run_one` could not record itself (its actor died for good).

    It is recorded as `run_one` records a failed run — a ``runs`` row with the error, then the
    status, keeping its attempt count — so `paylab analyze` sees it like any other failure.
    """
    previous = store.get_status(spec.sweep).get(spec.run_id)
    attempt = previous.attempt if previous is not None else 1
    store.write_part("runs", spec.sweep, spec.run_id, "final",
                     run_row(spec.sweep, spec, None, "failed", error, started, datetime.now(timezone.utc),
                             attempt, param_keys))
    store.compact(spec.sweep, spec.run_id)
    store.set_status(spec.sweep, spec.run_id, "failed", attempt=attempt, error=error)
    return RunOutcome(spec.run_id, "failed", error=error)
