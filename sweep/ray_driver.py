"""The Ray side of `sweep.driver.run_sweep`: a pool of reused run actors, collect outcomes.

`RunActorPool` keeps a fixed number of runs in flight (`pool_size`: one per CPU, plus two
per LLM slot the sweep's models may use, or ``limits.max_runs_in_flight``) in reused
`RunActor`s; each actor has one seat, or with any LLM model in the sweep one process per CPU
shares the runs out in seats (threads: `seats_per_actor`), and a free seat takes the next
queued run. Reuse is the point: an actor process
costs about a second of CPU to boot (Ray's worker, numpy, pyarrow, the engine), which one
fresh actor per run paid again for every run (200 short runs of Castro exp1 took 157 s on
2 CPUs that way, 39 s in one process; benchmarks/sweep.py, part d).

A run actor whose process dies is restarted by Ray and its ``run`` call retried, which
resumes the run from its last completed iteration in the store. An actor that was restarted
is retired once none of its runs is in flight (each run gets a fresh allowance of restarts),
and one whose restarts are exhausted fails its runs (recorded as failed; the others carry
on; a run queued behind it goes back to the queue) and is replaced. Uses `ray.wait` over the
in-flight runs and booting actors (never `ray.get` in a loop).

If any cell asks an LLM, one `LLMGatewayActor` makes every run's calls; it is created first,
so its litellm import overlaps the start of the run actors. Actor processes boot at most one
per CPU at a time (the gateway's included): started all at once they share the CPUs evenly,
so each one, and the gateway's multi-second litellm import above all, is ready only near the
end of the stampede (16 run actors started at once on a busy 2-core machine left the gateway
ready after 25 s, one per CPU at a time after 8 s), and no LLM call can start before it is.
While the gateway boots, only as many run actors boot as leave it a CPU of its own (one on
2 CPUs, whose seats have the first round of calls waiting when it is up); the rest follow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import ray

from runner.experiment.status import RunStatus
from sweep.actors import RecentlyUsed, RunActor, init_ray, start_gateway
from sweep.expand import RunSpec
from sweep.limits import pattern_for
from sweep.run import CellInputs, RunOutcome, store_runs_row
from sweep.store import ResultStore

POLL_SECONDS = 1.0
# Run actors for LLM models no concurrency pattern limits: they wait on the provider, not a CPU.
UNLIMITED_LLM_RUNS = 16


def pool_size(
    cpus: int, runs: Sequence[RunSpec], concurrency: Mapping[str, int], max_runs_in_flight: int | None
) -> int:
    """How many runs a Ray sweep keeps in flight: ``max_runs_in_flight`` if set, else one per
    CPU plus two per LLM slot its models can use — one whose call is out, one whose next call
    waits at the gateway, so that a slot is taken again the moment it frees (a run between
    two calls does CPU work of its own). A run waiting for an answer uses no CPU, so the
    CPUs stay busy while every slot is filled. Never more than there are runs."""
    if max_runs_in_flight is not None:
        return max(1, min(max_runs_in_flight, len(runs)))
    patterns: set[str] = set()
    unlimited = False
    for spec in runs:
        if spec.config.llm.is_builtin:
            continue
        pattern = pattern_for(spec.model, dict(concurrency))
        if pattern is None:
            unlimited = True
        else:
            patterns.add(pattern)
    llm_runs = 2 * sum(concurrency[p] for p in patterns) + (UNLIMITED_LLM_RUNS if unlimited else 0)
    return max(1, min(cpus + llm_runs, len(runs)))


def seats_per_actor(cpus: int, runs: Sequence[RunSpec], size: int) -> int:
    """How many of the ``size`` runs in flight one run actor process hosts at once.

    One for offline sweeps: their runs are CPU-bound. A sweep that asks an LLM packs its runs
    into one process per CPU: a run waiting for an answer holds only a thread, and booting a
    process per run (a second of CPU each) left the gateway's slots half empty while 16 came
    up on 2 cores, and the last one up still had its whole chain of calls to make.
    """
    if all(spec.config.llm.is_builtin for spec in runs):
        return 1
    return max(1, -(-size // cpus))


def run_on_ray(
    to_run: Sequence[RunSpec],
    store: ResultStore,
    store_root: str,
    *,
    address: str | None,
    num_cpus: int | None,
    concurrency: dict[str, int],
    budget_usd: float | None,
    max_in_flight: int | None,
    chunk_size: int,
    param_keys: Mapping[str, Any],
    on_update: Callable[[RunOutcome | None], None] | None = None,
) -> list[RunOutcome]:
    init_ray(address, num_cpus)
    # None when every model is builtin; else it makes every LLM call, within the limits
    gateway = start_gateway((spec.config.llm for spec in to_run), concurrency)
    # Run actors do CPU work of their own (context days, sampling): more CPU-bound ones than
    # CPUs only thrashes.
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    size = pool_size(cpus, to_run, concurrency, max_in_flight)
    seats = seats_per_actor(cpus, to_run, size)
    pool = RunActorPool(
        -(-size // seats), cpus, store, store_root, RunArgs(budget_usd, chunk_size, param_keys, gateway), seats
    )
    try:
        return pool.run_all(to_run, on_update)
    finally:
        pool.shutdown()
        if gateway is not None:
            ray.kill(gateway)


@dataclass(frozen=True)
class RunArgs:
    """What every `RunActor.run` call takes besides its cell."""

    budget_usd: float | None
    chunk_size: int
    param_keys: Mapping[str, Any]
    gateway: Any | None


@dataclass
class _Busy:
    """A run in flight: its cell, the actor running it, and whether it was queued behind
    another run of that actor when it was handed over."""

    spec: RunSpec
    actor: Any
    started: datetime
    queued: bool = False


class RunActorPool:
    """``size`` reused `RunActor`s; `run_all` hands each the next queued run when it has room.

    An actor of a sweep that asks an LLM hosts ``seats`` runs at once (threads,
    `seats_per_actor`): a run waiting for an answer holds only a thread. In a sweep without
    LLM runs (every run CPU-bound, short and alike) an actor runs one at a time and also holds
    its next run (`PIPELINE_DEPTH`): an actor's calls run in order, so the next run starts
    the moment the last one ends, with no round trip to this process between them (~5 ms a
    run, and the whole of a mid-sweep compaction, which this process does between its waits).
    """

    PIPELINE_DEPTH = 2

    def __init__(
        self, size: int, cpus: int, store: ResultStore, store_root: str, args: RunArgs, seats: int = 1
    ) -> None:
        self.size, self.cpus, self.seats = size, cpus, seats
        self.store, self.store_root, self.args = store, store_root, args
        self.depth = self.PIPELINE_DEPTH if args.gateway is None else seats
        self.actors: list[Any] = []
        self.ran_on: dict[str, int] = {}  # run id → pid of the process that finished it
        self._pids: dict[Any, int] = {}  # actor → the pid it booted with, once known
        self._booting: dict[Any, Any] = {}  # pid ref → actor, until its process is up
        self._load: dict[Any, int] = {}  # actor → its runs in flight (running or queued on it)
        self._retiring: set[Any] = set()  # restarted during a run: killed once its runs are over
        self._requeued: set[str] = set()  # runs put back once after their actor died under them
        if args.gateway is not None:
            self._booting[args.gateway.pid.remote()] = None
        # Replicates share one config object: their scenario is read and parsed once.
        self._inputs = RecentlyUsed(8)

    def run_all(
        self, to_run: Sequence[RunSpec], on_update: Callable[[RunOutcome | None], None] | None
    ) -> list[RunOutcome]:
        queue = deque(to_run)
        busy: dict[Any, _Busy] = {}
        outcomes: list[RunOutcome] = []
        while queue or busy:
            self._hand_out(queue, busy)
            ready, _ = ray.wait([*busy, *self._booting], num_returns=1, timeout=POLL_SECONDS)
            finished = False
            for ref in ready:
                if ref in self._booting:
                    self._booted(ref)
                    continue
                outcome = self._finish(ref, busy.pop(ref), queue)
                if outcome is None:  # put back in the queue
                    continue
                finished = True
                outcomes.append(outcome)
                if on_update:
                    on_update(outcome)
            if not finished and on_update:
                on_update(None)  # a tick for the progress view
        return outcomes

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors.clear()

    def _hand_out(self, queue: deque[RunSpec], busy: dict[Any, _Busy]) -> None:
        """Every free actor a run, then new actors (`_may_boot`), then
        each actor its next run (up to ``depth``)."""
        for depth in range(1, self.depth + 1):
            for actor in self.actors:
                while queue and self._load[actor] < depth and actor not in self._retiring:
                    self._submit(queue.popleft(), actor, busy)
            while depth == 1 and queue and self._may_boot():
                self._submit(queue.popleft(), self._boot(), busy)

    def _live(self) -> int:
        return len(self.actors) - len(self._retiring)

    def _may_boot(self) -> bool:
        """Room for another actor process: fewer than ``size``, at most one booting per CPU,
        and while the LLM gateway boots only as many in all as leave it a CPU of its own."""
        if self._live() >= self.size or len(self._booting) >= self.cpus:
            return False
        gateway_booting = None in self._booting.values()
        return not gateway_booting or len(self.actors) < max(1, self.cpus - 1)

    def _boot(self) -> Any:
        # Seats are threads; with several, one more for the pool's own calls (`pid`): a thread
        # actor may run calls out of order, and the pid must not wait for a run to end.
        threads = self.seats + 1 if self.seats > 1 else 1
        actor = RunActor.options(max_concurrency=threads).remote()  # type: ignore[attr-defined]
        # pid before run: an actor serves one caller's calls in order (with seats, on a thread
        # of its own), so this resolves when the process is up, before its first run has ended
        self._booting[actor.pid.remote()] = actor
        self.actors.append(actor)
        self._load[actor] = 0
        return actor

    def _booted(self, ref: Any) -> None:
        actor = self._booting.pop(ref)
        try:
            pid = ray.get(ref)
        except ray.exceptions.RayError:
            return  # died while booting: its run's call reports that
        if actor is not None:
            self._pids[actor] = pid

    def _submit(self, spec: RunSpec, actor: Any, busy: dict[Any, _Busy]) -> None:
        a = self.args
        ref = actor.run.remote(
            self._cell_inputs(spec), self.store_root, a.budget_usd, a.chunk_size, a.param_keys, a.gateway
        )
        busy[ref] = _Busy(spec, actor, datetime.now(timezone.utc), queued=self._load[actor] >= self.seats)
        self._load[actor] += 1

    def _cell_inputs(self, spec: RunSpec) -> CellInputs:
        scenario, prompt = self._inputs.get(
            id(spec.config), lambda: (spec.config, spec.config.load_scenario(), spec.config.system_prompt_text())
        )[1:]
        return CellInputs(spec, scenario, prompt)

    def _finish(self, ref: Any, run: _Busy, queue: deque[RunSpec]) -> RunOutcome | None:
        """The run's outcome (None: put back in ``queue``); retires its actor if it cannot
        take another run."""
        self._load[run.actor] -= 1
        try:
            result, pid = ray.get(ref)
            outcome = RunOutcome(**result)
        except ray.exceptions.RayActorError as exc:
            pid = None
            if run.queued and run.spec.run_id not in self._requeued:
                # it waited behind a run whose actor died for good: it may never have started,
                # so it goes back to the queue (once: a run that kills every actor fails)
                self._requeued.add(run.spec.run_id)
                queue.appendleft(run.spec)
                outcome = None
            else:
                outcome = self._failed(run, exc)
        except ray.exceptions.RayTaskError as exc:
            pid = None
            outcome = self._failed(run, exc)
        if pid is not None:
            self.ran_on[run.spec.run_id] = pid
        for boot_ref in [r for r, a in self._booting.items() if a == run.actor]:
            self._booted(boot_ref)  # resolved before the run ended (called first), not yet seen here
        booted = self._pids.get(run.actor)
        if pid is not None and (booted is None or pid == booted) and run.actor not in self._retiring:
            self._pids[run.actor] = pid
        elif run.actor in self._load:
            # dead for good, or restarted by Ray during this run (its restarts are partly
            # used): it takes no new run, and goes once the runs it holds are over
            self._retiring.add(run.actor)
        if run.actor in self._retiring and self._load.get(run.actor) == 0:
            self._retire(run.actor)
        return outcome

    def _failed(self, run: _Busy, exc: Exception) -> RunOutcome:
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return _record_failure(self.store, run.spec, error, run.started, self.args.param_keys)

    def _retire(self, actor: Any) -> None:
        """Kill ``actor`` (it has no run in flight: a restart retried every run it had)."""
        ray.kill(actor)
        self.actors.remove(actor)
        self._pids.pop(actor, None)
        self._load.pop(actor, None)
        self._retiring.discard(actor)


def _record_failure(
    store: ResultStore, spec: RunSpec, error: str, started: datetime, param_keys: Mapping[str, Any]
) -> RunOutcome:
    """Record a run that `run_one` could not record itself (its actor died for good).

    It is recorded as `run_one` records a failed run — a ``runs`` row with the error, then the
    status, keeping its attempt count — so `paylab analyze` sees it like any other failure.
    """
    previous = store.run_status(spec.sweep, spec.run_id)
    attempt = previous.attempt if previous is not None else 1
    store_runs_row(store, spec, None, RunStatus.FAILED, error, started, attempt, param_keys)
    store.set_status(spec.sweep, spec.run_id, RunStatus.FAILED, attempt=attempt, error=error)
    return RunOutcome(spec.run_id, RunStatus.FAILED, error=error)
