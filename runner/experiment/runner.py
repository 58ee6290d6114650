"""`GenericExperimentRunner`: runs any experiment file — no experiment-specific code.

It wires the pieces chosen by the config (scenario, proposer, executor, acceptance rule)
into an `OptimizationLoop`, streams the run's events to the terminal and to
``<out>/<run_id>/events.jsonl``, and returns an `ExperimentResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, runtime_checkable

from runner.experiment.config import ExperimentConfig
from runner.experiment.event_types import (
    DecisionPayload,
    ExperimentEndPayload,
    ExperimentStartPayload,
    ProposalPayload,
    ReferenceCostPayload,
)
from runner.experiment.events import Event, EventSink, JsonlEventSink, LiveStateProvider, of_type
from runner.experiment.executor import EvaluationExecutor, InProcessExecutor
from runner.experiment.loop import OptimizationLoop
from runner.experiment.proposers import make_proposer
from runner.experiment.result import AgentOutcome, ExperimentResult, ExperimentState
from runner.experiment.status import RunStatus, StopReason
from runner.policy.serialize import policy_to_doc
from runner.proposals import LLMInteraction, LLMUsage, PolicyProposer
from runner.scenario.loader import Scenario

EVENTS_FILE = "events.jsonl"
RESULT_FILE = "result.json"


def new_run_id(name: str) -> str:
    """``<name>-<UTC yyyymmdd-hhmmss>-<6 hex>``: unique per run."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{stamp}-{secrets.token_hex(3)}"


@runtime_checkable
class ExperimentRunnerProtocol(Protocol):
    """What the CLI and the sweep actors need from a runner."""

    run_id: str

    def run(self) -> ExperimentResult: ...

    def get_current_state(self) -> ExperimentState: ...


class GenericExperimentRunner:
    """Runs one experiment (one replicate) end to end.

    Example:
        >>> cfg = ExperimentConfig.from_yaml("experiments/castro/exp1.yaml")  # doctest: +SKIP
        >>> result = GenericExperimentRunner(cfg, out_dir=Path("results")).run()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        run_id: str | None = None,
        replicate: int = 0,
        out_dir: Path | None = None,
        proposer: PolicyProposer | None = None,
        executor: EvaluationExecutor | None = None,
        sinks: list[EventSink] | None = None,
        stop_check: Callable[[], StopReason | None] | None = None,
        resume_events: list[Event] | None = None,
        scenario: Scenario | None = None,
    ) -> None:
        self.config = config
        self.run_id = run_id or new_run_id(config.name)
        self.replicate = replicate
        # A sweep passes the scenario it already loaded: workers on other nodes need no files.
        self.scenario = scenario or config.load_scenario()
        self.constraints = config.get_constraints()
        self.proposer = proposer or make_proposer(config.llm, self.constraints, config.system_prompt_text())
        self.executor = executor or InProcessExecutor()
        self.run_dir = out_dir / self.run_id if out_dir is not None else None
        self._file_sink = JsonlEventSink(self.run_dir / EVENTS_FILE) if self.run_dir else None
        all_sinks = list(sinks or []) + ([self._file_sink] if self._file_sink else [])
        # A resumed run keeps its completed iterations' events and continues their numbering.
        self.resume_events = [e for e in (resume_events or []) if e.seq <= _last_complete(resume_events)]
        self.provider = LiveStateProvider(
            self.run_id, all_sinks, start_seq=self.resume_events[-1].seq + 1 if self.resume_events else 0
        )
        self.provider.events.extend(self.resume_events)
        self.stop_check = stop_check
        self._loop: OptimizationLoop | None = None
        self._status = RunStatus.PENDING

    def run(self) -> ExperimentResult:
        """Run to the end (blocking) and return the result.

        Ctrl-C raises `KeyboardInterrupt` at once, wherever the run is (see `_interruptible`);
        the events emitted so far stay in the stream, and no result is produced.
        """
        with _interruptible():
            return asyncio.run(self.arun())

    async def arun(self) -> ExperimentResult:
        started = time.perf_counter()
        self._status = RunStatus.RUNNING
        cfg = self.config
        loop = OptimizationLoop(
            cfg,
            self.scenario,
            self.proposer,
            self.executor,
            self.provider,
            replicate=self.replicate,
            stop_check=self.stop_check,
        )
        self._loop = loop
        if self.resume_events:
            loop.restore(self.resume_events)
        else:
            self._emit_start()
        try:
            await loop.run()
        except BaseException:
            self._status = RunStatus.FAILED
            self._close()
            raise
        return self._finish(loop, started)

    def _emit_start(self) -> None:
        cfg = self.config
        self.provider.emit(
            0,
            ExperimentStartPayload(
                run_id=self.run_id,
                experiment=cfg.name,
                model=cfg.llm.model,
                mode=cfg.evaluation.mode,
                world=cfg.evaluation.world,
                agents=tuple(cfg.optimized_agents),
                master_seed=cfg.master_seed,
                replicate=self.replicate,
                max_iterations=cfg.convergence.max_iterations,
                num_samples=cfg.evaluation.num_samples,
            ),
        )

    def _finish(self, loop: OptimizationLoop, started: float) -> ExperimentResult:
        result = self._result(loop, time.perf_counter() - started)
        self.provider.emit(
            loop.iteration,
            ExperimentEndPayload(
                stop_reason=loop.stop_reason,
                iterations=result.iterations,
                converged=result.converged,
                baseline_total=result.baseline_total,
                final_total=result.final_total,
                best_total=result.best_total,
                final_parameters={a: p.get("parameters", {}) for a, p in result.final_policies.items()},
                llm_calls=result.llm.calls,
            ),
        )
        self._status = RunStatus.DONE
        if self.run_dir is not None:
            (self.run_dir / RESULT_FILE).write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        self._close()
        return result

    def _close(self) -> None:
        if self._file_sink is not None:
            self._file_sink.close()

    def get_current_state(self) -> ExperimentState:
        """A snapshot of the run so far (safe to call at any time)."""
        loop = self._loop
        usage = self._usage()
        decisions = [d for _, d in self.provider.of_type(DecisionPayload)]
        if loop is None:
            policies = {a: self.config.initial_policy_doc(a) for a in self.config.optimized_agents}
            return ExperimentState(
                self.run_id,
                self.config.name,
                self._status,
                0,
                self.config.convergence.max_iterations,
                policies,
                llm=usage,
            )
        return ExperimentState(
            self.run_id,
            self.config.name,
            self._status,
            loop.iteration,
            self.config.convergence.max_iterations,
            {a: policy_to_doc(loop.policies[a]) for a in self.config.optimized_agents},
            dict(loop.reference_costs),
            accepted=sum(1 for d in decisions if d.accepted),
            rejected=sum(1 for _, p in self.provider.of_type(ProposalPayload) if not p.valid)
            + sum(1 for d in decisions if not d.accepted),
            llm=usage,
            stop_reason=loop.stop_reason if self._status == RunStatus.DONE else None,
        )

    def _usage(self) -> LLMUsage:
        usage = LLMUsage()
        for _, interaction in self.provider.of_type(LLMInteraction):
            usage = usage.add(interaction)
        return usage

    def _result(self, loop: OptimizationLoop, duration: float) -> ExperimentResult:
        refs = list(self.provider.of_type(ReferenceCostPayload))
        agents = {}
        for a in self.config.optimized_agents:
            series = [(ref.costs[a], e.iteration) for e, ref in refs]
            best_cost, best_it = min(series, key=lambda x: (x[0], x[1]))
            accepted = sum(1 for r in loop.history[a] if r.accepted)
            agents[a] = AgentOutcome(
                series[0][0],
                series[-1][0],
                best_cost,
                best_it,
                refs[-1][1].settlement[a],
                accepted,
                len(loop.history[a]) - accepted,
            )
        totals = [ref.total for _, ref in refs]
        history = [{"agent": a, **vars(r)} for a in self.config.optimized_agents for r in loop.history[a]]
        history.sort(key=lambda h: (h["iteration"], self.config.optimized_agents.index(h["agent"])))
        return ExperimentResult(
            run_id=self.run_id,
            experiment=self.config.name,
            model=self.config.llm.model,
            replicate=self.replicate,
            master_seed=self.config.master_seed,
            iterations=loop.iteration,
            converged=loop.stop_reason == StopReason.CONVERGED,
            stop_reason=loop.stop_reason,
            agents=agents,
            baseline_total=totals[0],
            final_total=totals[-1],
            best_total=min(totals),
            final_policies={a: policy_to_doc(loop.policies[a]) for a in self.config.optimized_agents},
            history=history,
            llm=self._usage(),
            duration_seconds=round(duration, 3),
            events_path=str(self.run_dir / EVENTS_FILE) if self.run_dir else None,
        )


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Make SIGINT raise `KeyboardInterrupt` immediately inside ``asyncio.run``.

    Why: ``asyncio.run`` replaces Python's SIGINT handler with one that only *cancels* the
    main task, and a cancellation lands at the task's next real ``await``. The offline
    proposers never await anything, so a Ctrl-C used to wait for the whole run to end. A
    handler of our own (asyncio keeps any handler that is not Python's default) raises in
    the main thread at the next bytecode instead. Only the main thread can set handlers; a
    non-default handler someone else installed is left alone.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _last_complete(events: list[Event] | None) -> int:
    """Seq of the last recorded reference cost: the end of the last completed iteration."""
    done = [e.seq for e, _ in of_type(events or [], ReferenceCostPayload)]
    return max(done) if done else -1
