"""`OptimizationLoop`: evaluate → propose → compare (paired) → accept or reject → repeat.

Read `run` top to bottom; each step is a method below it. The evaluation mode is an
`EvaluationPlan` (bootstrap or deterministic, picked once in `__init__`): the loop asks it
for days, samples and setups and never tests the mode. The loop owns the policies in
force and each agent's history; everything it observes goes out as events (display, files,
Parquet hang off the event stream, not off the loop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from runner.engine.batch import evaluate_batch
from runner.engine.rates import COMPONENTS
from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import Schedule, ScheduleGenerator
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup, build_setup
from runner.errors import ConfigError, PolicyError, SimulationError
from runner.experiment.acceptance import Decision, make_rule
from runner.experiment.bootstrap import (
    BootstrapPolicyEvaluator,
    PolicyEvaluation,
    TransactionHistory,
    compute_paired_deltas,
)
from runner.experiment.config import ExperimentConfig
from runner.experiment.convergence import ConvergenceDetector
from runner.experiment.event_types import (
    ContextDayPayload,
    ConvergedPayload,
    DecisionPayload,
    EvaluationPayload,
    IterationStartPayload,
    ProposalPayload,
    ReferenceCostPayload,
)
from runner.experiment.events import Event, LiveStateProvider, of_type
from runner.experiment.executor import EvaluationExecutor
from runner.experiment.plans import make_plan
from runner.experiment.status import StopReason
from runner.experiment.streams import agent_stream, scenario_facts
from runner.policy.serialize import policy_json, policy_to_doc
from runner.policy.tree import Policy
from runner.policy.validate import parse_valid_policy
from runner.proposals import (
    IterationRecord,
    LazyStreams,
    PolicyProposer,
    ProposalContext,
    SampleStream,
)
from runner.scenario.loader import Scenario


@dataclass(frozen=True)
class ContextDay:
    """The iteration's full-scenario day(s): the first one's schedule and costs, the per-agent
    records of every day simulated (``evaluation.context_days``), and — on demand, since only
    an LLM's prompt needs it — the first day's event trace."""

    seed: int
    schedule: Schedule
    setup: EngineSetup
    histories: list[TransactionHistory]
    costs: dict[str, int]

    @cached_property
    def events(self) -> list[dict[str, Any]]:
        return ReferenceEngine(self.setup).run(self.schedule, trace=True)[1]


class OptimizationLoop:
    """Optimises ``config.optimized_agents``' policies on ``scenario``.

    Args:
        stop_check: called once per iteration; a non-empty string stops the run with that
            reason (a sweep's spend budget uses it).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        scenario: Scenario,
        proposer: PolicyProposer,
        executor: EvaluationExecutor,
        provider: LiveStateProvider,
        replicate: int = 0,
        stop_check: Callable[[], StopReason | None] | None = None,
    ) -> None:
        self.config, self.scenario, self.proposer = config, scenario, proposer
        self.provider, self.replicate, self.stop_check = provider, replicate, stop_check
        ev = config.evaluation
        self.ticks = min(ev.ticks or scenario.config.episode_ticks, scenario.config.episode_ticks)
        self.constraints = config.get_constraints()
        self.evaluator = BootstrapPolicyEvaluator(executor)
        self.days = ScheduleGenerator(scenario.config, self.ticks)
        self.plan = make_plan(config, scenario, self.ticks, self.days, replicate)
        self.rule = make_rule(ev.acceptance, temporal=ev.temporal)
        conv = config.convergence
        self.detector = ConvergenceDetector(conv.stability_threshold, conv.stability_window, ev.temporal)
        self.policies: dict[str, Policy] = dict(scenario.policies)
        for agent in config.optimized_agents:
            self.policies[agent] = parse_valid_policy(
                config.initial_policy_doc(agent), source=f"{config.source}: initial_policies.{agent}"
            )
        self.history: dict[str, list[IterationRecord]] = {a: [] for a in config.optimized_agents}
        self.reference = ScheduleBatch.of(self.plan.reference_schedules())  # laid out once, reused
        self.iteration = 0
        self.reference_costs: dict[str, float] = {}
        self._reference_cache: dict[str, Any] = {}
        self.restored = False
        self.stop_reason = StopReason.MAX_ITERATIONS

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        if not self.restored:
            self.report_reference(iteration=0, accepted_any=False)
        elif self.detector.converged():
            # A restored run may have stopped already: the clean run checks convergence right
            # after each reference cost, and a kill can fall between that event being stored
            # and the stop being recorded. Re-apply the rule before going on (the other stop
            # rules — max_iterations, stop_check — are checked at the top of the loop below).
            self.stop_reason = StopReason.CONVERGED
            self.provider.emit(self.iteration, ConvergedPayload(self.detector.reason))
            return
        for it in range(self.iteration + 1, self.config.convergence.max_iterations + 1):
            reason = self.stop_check() if self.stop_check else None
            if reason:  # before the iteration starts: `iteration` stays the last completed one
                self.stop_reason = reason
                return
            self.iteration = it
            self.provider.emit(it, IterationStartPayload())
            context = self.simulate_context_day(it)
            accepted_any = False
            for agent in self.config.optimized_agents:  # accepted policies are adopted at once
                accepted_any |= await self.optimize_agent(agent, it, context)
            self.report_reference(it, accepted_any)
            if self.detector.converged():
                self.stop_reason = StopReason.CONVERGED
                self.provider.emit(it, ConvergedPayload(self.detector.reason))
                return

    async def optimize_agent(self, agent: str, it: int, context: ContextDay) -> bool:
        samples = self.plan.samples(agent, it, context.schedule, context.histories)
        setup = self.plan.setup(agent, self.policies)
        current = self.evaluator.evaluate(agent, setup, samples)
        self.emit_evaluation(agent, it, current)
        result = await self.proposer.propose(self.proposal_context(agent, it, context, current, samples, setup))
        for interaction in result.interactions:
            self.provider.emit(it, interaction)
        self.provider.emit(
            it,
            ProposalPayload(
                agent=agent,
                valid=result.ok,
                attempts=result.attempts,
                errors=tuple(result.errors),
                proposal=result.policy,
                policy=policy_to_doc(self.policies[agent]),
            ),
        )
        if result.policy is None:
            self.remember(agent, it, None, False, "no valid proposal: " + "; ".join(result.errors)[:300])
            return False
        try:
            candidate = parse_valid_policy(result.policy, self.constraints)
            new = self.evaluator.evaluate(agent, self.plan.setup(agent, {**self.policies, agent: candidate}), samples)
        except (PolicyError, SimulationError, ConfigError) as exc:
            reason = f"cannot run: {exc}"
            self.provider.emit(
                it,
                DecisionPayload(
                    agent=agent,
                    accepted=False,
                    reason=reason,
                    n=0,
                    policy=policy_to_doc(self.policies[agent]),
                    proposal=result.policy,
                ),
            )
            self.remember(agent, it, result.policy, False, reason)
            return False
        decision = self.rule.decide(compute_paired_deltas(current, new), current.costs, new.costs, new.settlement)
        self.emit_decision(agent, it, current, new, decision, result.policy)
        self.remember(agent, it, result.policy, decision.accepted, decision.reason, decision)
        if decision.accepted:
            self.policies[agent] = candidate
        return decision.accepted

    # ------------------------------------------------------------------ steps
    def simulate_context_day(self, it: int) -> ContextDay:
        """The full scenario with the current policies, on the plan's day(s) for iteration ``it``."""
        setup = build_setup(self.scenario, self.policies, ticks=self.ticks)
        seeds = self.plan.context_seeds(it)
        days = len(seeds)
        schedules = [self.days.draw(seed) for seed in seeds]
        table = evaluate_batch(setup, schedules)  # histories need settlement ticks, not traces
        totals = table.totals()[0]
        costs = {a: int(totals[i]) for i, a in enumerate(setup.agent_ids)}
        self.provider.emit(
            it, ContextDayPayload(seeds[0], days, costs={a: costs[a] for a in self.config.optimized_agents})
        )
        histories = [
            TransactionHistory(setup.agent_ids, sch, ticks)
            for sch, ticks in zip(schedules, table.settle_ticks, strict=True)
        ]
        return ContextDay(seeds[0], schedules[0], setup, histories, costs)

    def proposal_context(
        self,
        agent: str,
        it: int,
        context: ContextDay,
        current: PolicyEvaluation,
        samples: Sequence[Schedule],
        setup: EngineSetup,
    ) -> ProposalContext:
        def streams() -> list[SampleStream]:
            out = [agent_stream("context day", context.seed, context.costs[agent], context.events, agent)]
            order = np.argsort(current.costs, kind="stable")
            picks = (("best sample", int(order[0])), ("worst sample", int(order[-1])))
            for label, k in picks if len(samples) > 1 else ():  # one sample: the context day says it all
                _, events = ReferenceEngine(setup).run(samples[k], trace=True)
                out.append(agent_stream(label, samples[k].seed, int(current.costs[k]), events, agent))
            return out

        comp = current.components.mean(axis=0)
        return ProposalContext(
            agent_id=agent,
            iteration=it,
            current_policy=policy_to_doc(self.policies[agent]),
            mean_cost=current.mean,
            cost_std=float(current.costs.std(ddof=1)) if current.costs.size > 1 else 0.0,
            cost_breakdown={c: float(comp[i]) for i, c in enumerate(COMPONENTS)},
            settlement_rate=float(current.settlement.mean()),
            num_samples=int(current.costs.size),
            streams=LazyStreams(streams),
            history=tuple(self.history[agent]),
            constraints=self.constraints,
            scenario=scenario_facts(self.scenario, agent),
            customization=self.config.customization_for(agent),
        )

    def remember(
        self,
        agent: str,
        it: int,
        proposal: dict[str, Any] | None,
        accepted: bool,
        reason: str,
        d: Decision | None = None,
    ) -> None:
        self.history[agent].append(
            IterationRecord(
                iteration=it,
                policy=policy_to_doc(self.policies[agent]),
                proposal=proposal,
                accepted=accepted,
                reason=reason,
                old_mean_cost=d.old_mean if d else None,
                new_mean_cost=d.new_mean if d else None,
                mean_delta=d.mean_delta if d else None,
                ci_low=d.ci_low if d else None,
                ci_high=d.ci_high if d else None,
            )
        )

    def report_reference(self, iteration: int, accepted_any: bool) -> None:
        """Current policies on the fixed reference set: comparable across iterations."""
        setup = build_setup(self.scenario, self.policies, ticks=self.ticks)
        key = "|".join(policy_json(self.policies[a]) for a in setup.agent_ids)
        if key not in self._reference_cache:  # same policies, same fixed samples: same costs
            table = self.evaluator.executor.evaluate(setup, self.reference)
            self._reference_cache = {
                key: (table.totals(), table.settlement_rates(), table.costs.sum(axis=1).mean(axis=0))
            }
        totals, rates, components = self._reference_cache[key]
        agents = self.config.optimized_agents
        costs = {a: float(totals[:, setup.index(a)].mean()) for a in agents}
        self.reference_costs = costs
        params = {a: dict(self.policies[a].parameters) for a in agents}
        total = float(sum(costs.values()))
        self.provider.emit(
            iteration,
            ReferenceCostPayload(
                costs=costs,
                total=total,
                n=len(self.reference),
                settlement={a: float(rates[:, setup.index(a)].mean()) for a in agents},
                parameters=params,
                policies={a: policy_to_doc(self.policies[a]) for a in agents},
                components={
                    a: {c: float(components[setup.index(a), i]) for i, c in enumerate(COMPONENTS)} for a in agents
                },
            ),
        )
        self.detector.record(total, accepted_any, {f"{a}.{k}": v for a, p in params.items() for k, v in p.items()})

    # ------------------------------------------------------------------ resume
    def restore(self, events: list[Event]) -> None:
        """Continue after the last iteration recorded in ``events`` (a run's stored stream).

        Policies, each agent's history and the convergence record are rebuilt from the events
        alone, so a resumed run proposes and decides exactly as an uninterrupted one.
        """
        refs = list(of_type(events, ReferenceCostPayload))
        if not refs:
            return
        last, last_ref = refs[-1]
        for agent, doc in last_ref.policies.items():
            self.policies[agent] = parse_valid_policy(doc)
        accepted_in: dict[int, bool] = {}
        for e in events:
            p = e.payload
            if isinstance(p, ProposalPayload) and not p.valid:
                why = "no valid proposal: " + "; ".join(p.errors)[:300]
                self.history[p.agent].append(IterationRecord(e.iteration, p.policy, None, False, why))
            elif isinstance(p, DecisionPayload):
                self.history[p.agent].append(
                    IterationRecord(
                        e.iteration,
                        p.policy,
                        p.proposal,
                        p.accepted,
                        p.reason,
                        p.old_mean,
                        p.new_mean,
                        p.mean_delta,
                        p.ci_low,
                        p.ci_high,
                    )
                )
                accepted_in[e.iteration] = accepted_in.get(e.iteration, False) or p.accepted
        for e, ref in refs:
            self.detector.record(
                ref.total,
                accepted_in.get(e.iteration, False),
                {f"{a}.{k}": v for a, ps in ref.parameters.items() for k, v in ps.items()},
            )
        self.iteration = last.iteration
        self.reference_costs = dict(last_ref.costs)
        self.restored = True

    # ------------------------------------------------------------------ events and seeds
    def emit_evaluation(self, agent: str, it: int, ev: PolicyEvaluation) -> None:
        self.provider.emit(
            it,
            EvaluationPayload(
                agent=agent,
                mean=ev.mean,
                n=int(ev.costs.size),
                std=float(ev.costs.std(ddof=1)) if ev.costs.size > 1 else 0.0,
                settlement=float(ev.settlement.mean()),
            ),
        )

    def emit_decision(
        self, agent: str, it: int, old: PolicyEvaluation, new: PolicyEvaluation, d: Decision, proposal: dict[str, Any]
    ) -> None:
        self.provider.emit(
            it,
            DecisionPayload(
                agent=agent,
                accepted=d.accepted,
                reason=d.reason,
                n=d.n,
                policy=policy_to_doc(self.policies[agent]),
                proposal=proposal,
                old_mean=d.old_mean,
                new_mean=d.new_mean,
                mean_delta=d.mean_delta,
                std_delta=d.std_delta,
                ci_low=d.ci_low,
                ci_high=d.ci_high,
                confidence=self.config.evaluation.acceptance.confidence,
                new_settlement=d.new_settlement,
                seeds=tuple(old.seeds),
                old_costs=tuple(int(x) for x in old.costs),
                new_costs=tuple(int(x) for x in new.costs),
                deltas=tuple(int(x) for x in old.costs - new.costs),
            ),
        )
