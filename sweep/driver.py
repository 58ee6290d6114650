"""`run_sweep`: decide which cells to (re)run, hand them to an executor, report progress.

Executors:
* ``local`` — in this process, one run after another (debugging, fast tests; no Ray);
* ``ray`` — a pool of reused Ray run actors, sample evaluations as Ray tasks; a single-machine Ray is
  started for you, or ``address`` (``auto``, ``ray://…`` or ``RAY_ADDRESS``) joins a cluster.
All three give identical result tables: runs are seeded per cell and evaluations are
independent of how samples are split.

Resume rules: ``done`` runs are skipped; ``running`` (interrupted) and ``pending`` runs are
(re)started from their last completed iteration; ``failed`` runs only with ``retry_failed``.
One driver per sweep output at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runner.experiment.status import RunStatus
from sweep.compact import Compactor, compact_sweep
from sweep.expand import RunSpec
from sweep.integrity import repair_sweep
from sweep.limits import LocalLimiter
from sweep.run import RunOutcome, run_one
from sweep.spec import SweepSpec
from sweep.store import ResultStore
from sweep.tables import infer_param_types


@dataclass(frozen=True)
class SweepPlan:
    """Which cells run now and which are left as they are."""

    to_run: list[RunSpec]
    done: list[RunSpec]
    failed: list[RunSpec]  # left alone (no --retry-failed)
    repairs: list[str] = field(default_factory=list)  # damage found and cleared (sweep.integrity)


def plan(runs: Sequence[RunSpec], store: ResultStore, retry_failed: bool, *, repair: bool = True) -> SweepPlan:
    """Which cells run now; ``repair`` first clears damaged results (`sweep.integrity`)."""
    repairs = repair_sweep(store, runs[0].sweep) if runs and repair else []
    statuses = store.get_status(runs[0].sweep) if runs else {}
    to_run, done, failed = [], [], []
    for spec in runs:
        status = statuses.get(spec.run_id)
        state = status.status if status is not None else RunStatus.PENDING
        if state == RunStatus.DONE:
            done.append(spec)
        elif state == RunStatus.FAILED and not retry_failed:
            failed.append(spec)
        else:
            to_run.append(spec)
    return SweepPlan(to_run, done, failed, repairs)


def run_sweep(
    spec: SweepSpec,
    runs: Sequence[RunSpec],
    store: ResultStore,
    store_root: str,
    *,
    executor: str = "ray",
    address: str | None = None,
    retry_failed: bool = False,
    num_cpus: int | None = None,
    chunk_size: int = 500,
    on_update: Callable[[RunOutcome | None], None] | None = None,
) -> list[RunOutcome]:
    """Run every cell of the sweep that is not done yet; returns the outcomes of this call."""
    the_plan = plan(runs, store, retry_failed)
    # One Arrow type per varied parameter for the whole sweep (a grid [1, 2.5] is float64
    # in every run's row, so the runs table reads as one schema).
    param_keys = infer_param_types(runs, sorted({k for r in runs for k in r.params}))
    limits = spec.limits
    budget = limits.llm_budget_usd if limits is not None else None
    concurrency = dict(limits.concurrency) if limits is not None else {}
    if not the_plan.to_run:  # all done (or failed, left alone): no Ray to start, nothing to wait for
        compact_sweep(store, spec.name)
        return []
    # batches finished runs' files as it goes
    on_update = Compactor(store, spec.name, [r.run_id for r in the_plan.to_run]).wrap(on_update)
    if executor == "local":
        limiter = LocalLimiter(concurrency)
        outcomes = []
        for cell in the_plan.to_run:
            outcome = run_one(cell, store, limiter=limiter, budget_usd=budget, param_keys=param_keys)
            outcomes.append(outcome)
            on_update(outcome)
        compact_sweep(store, spec.name)
        return outcomes
    from sweep.ray_driver import run_on_ray

    cap = limits.max_runs_in_flight if limits is not None else None
    outcomes = run_on_ray(
        the_plan.to_run,
        store,
        store_root,
        address=address,
        num_cpus=num_cpus,
        concurrency=concurrency,
        budget_usd=budget,
        max_in_flight=cap,
        chunk_size=chunk_size,
        param_keys=param_keys,
        on_update=on_update,
    )
    compact_sweep(store, spec.name)
    return outcomes
