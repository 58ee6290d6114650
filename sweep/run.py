"""`run_one`: the only thing an executor (local loop or Ray actor) calls for a sweep cell.

It resumes the run from the store (completed iterations are never redone), streams the
run's events into the store iteration by iteration, and records the outcome as a ``runs``
row. A failing run becomes a row with ``status=failed`` and its error; it never raises, so
one bad cell cannot stop the others.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from runner.experiment.event_types import ReferenceCostPayload
from runner.experiment.events import Event
from runner.experiment.executor import EvaluationExecutor, InProcessExecutor
from runner.experiment.proposers import make_proposer
from runner.experiment.runner import GenericExperimentRunner
from runner.experiment.status import RunStatus
from runner.proposals import LLMInteraction
from runner.scenario.loader import Scenario
from sweep.expand import RunSpec
from sweep.limits import GatedProposer, Limiter, LocalLimiter
from sweep.sink import StoreSink
from sweep.store import ResultStore
from sweep.table_rows import run_row

if TYPE_CHECKING:
    from runner.experiment.result import ExperimentResult
    from runner.llm.transport import LLMTransport

HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True)
class RunOutcome:
    """What the driver learns about a finished cell (also kept in the store)."""

    run_id: str
    status: RunStatus  # DONE, FAILED or SKIPPED
    iterations: int = 0
    stop_reason: str | None = None
    final_total: float | None = None
    error: str | None = None
    llm_calls: int = 0
    llm_cost_usd: float = 0.0

    def __post_init__(self) -> None:
        # An outcome rebuilt from `to_dict` (across a Ray actor) may carry the plain string.
        object.__setattr__(self, "status", RunStatus(self.status))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Heartbeat:
    """Refreshes the run's status while it runs, so a crashed driver leaves a stale record."""

    def __init__(self, store: ResultStore, spec: RunSpec, attempt: int) -> None:
        self.store, self.spec, self.attempt = store, spec, attempt
        self.progress: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def handle(self, event: Event) -> None:  # an EventSink: keeps progress figures fresh
        p = event.payload
        if isinstance(p, ReferenceCostPayload):
            self.progress.update(iteration=event.iteration, total=p.total)
            self.beat()
        elif isinstance(p, LLMInteraction):
            self.progress["llm_calls"] = self.progress.get("llm_calls", 0) + 1
            self.progress["llm_cost_usd"] = self.progress.get("llm_cost_usd", 0.0) + (p.cost_usd or 0.0)

    def beat(self) -> None:
        self.store.set_status(
            self.spec.sweep, self.spec.run_id, RunStatus.RUNNING, attempt=self.attempt, progress=dict(self.progress)
        )

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.beat()

    def __enter__(self) -> _Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and wait for a beat in progress (idempotent)."""
        self._stop.set()
        self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class CellInputs:
    """A cell with its files already read (scenario, system prompt): what a worker needs."""

    spec: RunSpec
    scenario: Scenario
    system_prompt: str | None

    @classmethod
    def load(cls, spec: RunSpec) -> CellInputs:
        return cls(spec, spec.config.load_scenario(), spec.config.system_prompt_text())


def run_one(
    cell: RunSpec | CellInputs,
    store: ResultStore,
    *,
    executor: EvaluationExecutor | None = None,
    limiter: Limiter | None = None,
    budget_usd: float | None = None,
    param_keys: Mapping[str, Any] | None = None,
    transport: LLMTransport | None = None,
) -> RunOutcome:
    """Run (or resume) one sweep cell to completion; never raises for a failing run.

    ``transport`` carries an LLM model's calls (default: litellm in this process; a Ray run
    actor passes the sweep's gateway, `sweep.actors.RayGatewayTransport`).
    """
    inputs = cell if isinstance(cell, CellInputs) else None
    spec = cell.spec if isinstance(cell, CellInputs) else cell
    previous = store.run_status(spec.sweep, spec.run_id)
    if previous is not None and previous.status == RunStatus.DONE:
        return RunOutcome(spec.run_id, RunStatus.SKIPPED)
    attempt = (previous.attempt + 1) if previous is not None else 1
    keys = param_keys if param_keys is not None else sorted(spec.params)
    started = datetime.now(timezone.utc)
    runner: GenericExperimentRunner | None = None
    with _Heartbeat(store, spec, attempt) as heartbeat:
        try:
            cfg = spec.config
            inputs = inputs or CellInputs.load(spec)
            inner = make_proposer(cfg.llm, cfg.get_constraints(), inputs.system_prompt, transport=transport)
            proposer = GatedProposer(inner, limiter or LocalLimiter(), budget_usd, cfg.convergence.max_iterations)
            runner = GenericExperimentRunner(
                cfg,
                run_id=spec.run_id,
                replicate=spec.replicate,
                proposer=proposer,
                executor=executor or InProcessExecutor(),
                sinks=[StoreSink(store, spec.sweep, spec.run_id), heartbeat],
                stop_check=proposer.stop_check,
                resume_events=store.events_for(spec.sweep, spec.run_id),
                scenario=inputs.scenario,
            )
            result = runner.run()
        except Exception as exc:  # noqa: BLE001 — a failed cell is a row, not a crash of the sweep
            # Stop the heartbeat before writing "failed": a beat still in flight could land
            # after that status and overwrite it, leaving a failed run "running".
            heartbeat.stop()
            error = f"{type(exc).__name__}: {exc}"
            detail = traceback.format_exc(limit=8)
            try:  # a results folder damaged under the run must not crash the sweep either
                store_runs_row(store, spec, None, RunStatus.FAILED, error, started, attempt, keys)
            except Exception as stored:  # noqa: BLE001 — the status below still records the failure
                error = f"{error} (its runs row could not be stored: {type(stored).__name__}: {stored})"
            store.set_status(spec.sweep, spec.run_id, RunStatus.FAILED, attempt=attempt, error=f"{error}\n{detail}")
            return RunOutcome(spec.run_id, RunStatus.FAILED, error=error)
    store_runs_row(store, spec, result, RunStatus.DONE, None, started, attempt, keys)
    store.set_status(
        spec.sweep,
        spec.run_id,
        RunStatus.DONE,
        attempt=attempt,
        progress={
            "iteration": result.iterations,
            "total": result.final_total,
            "llm_calls": result.llm.calls,
            "llm_cost_usd": result.llm.cost_usd or 0.0,
        },
    )
    del runner
    return RunOutcome(
        spec.run_id,
        RunStatus.DONE,
        result.iterations,
        result.stop_reason,
        result.final_total,
        llm_calls=result.llm.calls,
        llm_cost_usd=result.llm.cost_usd or 0.0,
    )


def store_runs_row(
    store: ResultStore,
    spec: RunSpec,
    result: ExperimentResult | None,
    status: RunStatus,
    error: str | None,
    started: datetime,
    attempt: int,
    param_keys: Sequence[str] | Mapping[str, Any],
) -> None:
    """Write the run's ``runs`` row (finished now), then compact its parts into one file:
    what every ending of a run stores before its status says so."""
    row = run_row(spec.sweep, spec, result, status, error, started, datetime.now(timezone.utc), attempt, param_keys)
    store.write_part("runs", spec.sweep, spec.run_id, "final", row)
    store.compact(spec.sweep, spec.run_id)
