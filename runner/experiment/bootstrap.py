"""Bootstrap evaluation: samples of an agent's day, scored for old and new policy alike.

* `TransactionHistory` — from one simulated context day, each agent's outgoing payments
  (amount, priority, receiver, deadline offset) and settled incoming payments (settlement
  offset).
* `SampleFactory` — builds the samples an agent's policies are judged on:
  ``sandbox`` (SOURCE → AGENT → SINK: the agent's resampled outgoing payments go to a sink,
  its resampled incoming settlements arrive from a source as liquidity beats) or ``full``
  (every agent's day resampled and all agents re-simulated with their current policies).
  Unlike SimCash, samples keep the scenario's rules (deferred crediting, deadline caps, cost
  rates, end-of-day scope) because the sandbox is built from the same scenario config.
* `BootstrapPolicyEvaluator` — scores policies on samples through an executor (in-process or
  Ray tasks: same results) and `compute_paired_deltas` compares two runs on the same samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from runner.engine.results import CostTable
from runner.engine.schedule import KIND_SCHEDULED_SETTLEMENT, Schedule, cap_deadlines
from runner.engine.setup import EngineSetup, build_setup
from runner.experiment.executor import EvaluationExecutor
from runner.policy.ast import Policy
from runner.policy.library import named_policy
from runner.policy.validate import parse_valid_policy
from runner.scenario.loader import Scenario
from runner.scenario.models import AgentConfig, ScenarioConfig
from runner.seeds import generator

SOURCE, SINK = "~SOURCE", "~SINK"  # sorted after any ordinary id; never a scenario agent
SOURCE_BALANCE = 10**15


@dataclass(frozen=True)
class AgentRecords:
    """One agent's observed day: outgoing payments and settled incoming payments."""

    out_amount: np.ndarray
    out_priority: np.ndarray
    out_receiver: np.ndarray  # agent index in the scenario
    out_offset: np.ndarray  # deadline − arrival
    in_amount: np.ndarray
    in_offset: np.ndarray  # settlement tick − arrival tick


class TransactionHistory:
    """Per-agent records of a context day, read from the reference engine's event trace."""

    def __init__(self, agent_ids: Sequence[str], events: Sequence[Mapping[str, Any]]) -> None:
        self.agent_ids = tuple(agent_ids)
        arrivals: dict[int, Mapping[str, Any]] = {}
        settled: dict[int, int] = {}
        for ev in events:
            if ev["type"] == "Arrival":
                arrivals[int(ev["tx"])] = ev
            elif ev["type"] == "Settlement" and ev.get("tx") is not None:
                settled[int(ev["tx"])] = int(ev["tick"])
        self.records = {a: self._records(a, arrivals, settled) for a in self.agent_ids}

    def _records(self, agent: str, arrivals: Mapping[int, Mapping[str, Any]],
                 settled: Mapping[int, int]) -> AgentRecords:
        out = [ev for ev in arrivals.values() if ev["sender"] == agent]
        inc = [(ev, settled[tx]) for tx, ev in arrivals.items()
               if ev["receiver"] == agent and tx in settled]

        def arr(values: list[int]) -> np.ndarray:
            return np.asarray(values, dtype=np.int64)

        return AgentRecords(
            out_amount=arr([ev["amount"] for ev in out]),
            out_priority=arr([ev["priority"] for ev in out]),
            out_receiver=arr([self.agent_ids.index(ev["receiver"]) for ev in out]),
            out_offset=arr([ev["deadline"] - ev["tick"] for ev in out]),
            in_amount=arr([ev["amount"] for ev, _ in inc]),
            in_offset=arr([tick - ev["tick"] for ev, tick in inc]),
        )


def sandbox_config(config: ScenarioConfig, agent: str) -> ScenarioConfig:
    """The scenario reduced to SOURCE → AGENT → SINK, keeping every rule and rate."""
    me = config.agent(agent).model_copy(update={"arrival_config": None})
    source = AgentConfig(id=SOURCE, opening_balance=SOURCE_BALANCE)
    sink = AgentConfig(id=SINK, opening_balance=0)
    return config.model_copy(update={"agents": [me, source, sink], "scenario_events": []})


class SampleFactory:
    """Builds one agent's bootstrap samples from a context day's history."""

    def __init__(self, scenario: Scenario, ticks: int, world: str) -> None:
        self.scenario = scenario
        self.config = scenario.config
        self.ticks = ticks
        self.world = world
        self.fifo = parse_valid_policy(named_policy("Fifo"))

    def setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        """Engine parameters for ``agent``'s samples with ``policies`` in force."""
        if self.world == "sandbox":
            cfg = sandbox_config(self.config, agent)
            return build_setup(cfg, {agent: policies[agent], SOURCE: self.fifo, SINK: self.fifo},
                               ticks=self.ticks)
        return build_setup(self.scenario, dict(policies), ticks=self.ticks)

    def samples(self, histories: Sequence[TransactionHistory], agent: str, seeds: Sequence[int],
                context: Schedule | None = None) -> list[Schedule]:
        """One sample per seed; each resamples one of the context days (chosen by its seed)."""
        out = []
        for seed in seeds:
            rng = generator(seed)
            history = histories[int(rng.integers(0, len(histories)))] if len(histories) > 1 else histories[0]
            if self.world == "sandbox":
                out.append(self._sandbox_sample(history.records[agent], seed, rng))
            else:
                assert context is not None
                out.append(self._full_sample(history, seed, context, rng))
        return out

    def _deadlines(self, arrival: np.ndarray, offset: np.ndarray) -> np.ndarray:
        c = self.config
        return cap_deadlines(arrival, offset, c.simulation.ticks_per_day, c.episode_ticks,
                             c.deadline_cap_at_eod)

    def _sandbox_sample(self, rec: AgentRecords, seed: int, rng: np.random.Generator) -> Schedule:
        n, m = rec.out_amount.size, rec.in_amount.size
        pick = rng.integers(0, max(n, 1), size=n)
        arrival = rng.integers(0, self.ticks, size=n)
        pick_in = rng.integers(0, max(m, 1), size=m)
        arrival_in = rng.integers(0, self.ticks, size=m)
        order = np.argsort(arrival, kind="stable")
        arrival, pick = arrival[order], pick[order]
        beat_tick = np.minimum(arrival_in + rec.in_offset[pick_in], self.ticks - 1)
        beat_order = np.argsort(beat_tick, kind="stable")
        # sandbox agent indices, agents sorted: [AGENT, ~SINK, ~SOURCE] ('~' sorts last)
        me, sink, source = 0, 1, 2
        return Schedule(
            sender=np.full(n, me, dtype=np.int64),
            receiver=np.full(n, sink, dtype=np.int64),
            amount=rec.out_amount[pick],
            arrival=arrival.astype(np.int64),
            deadline=self._deadlines(arrival, rec.out_offset[pick]),
            priority=rec.out_priority[pick],
            event_tick=beat_tick[beat_order].astype(np.int64),
            event_kind=np.full(m, KIND_SCHEDULED_SETTLEMENT, dtype=np.int64),
            event_from=np.full(m, source, dtype=np.int64),
            event_to=np.full(m, me, dtype=np.int64),
            event_amount=rec.in_amount[pick_in][beat_order],
            seed=seed,
        )

    def _full_sample(self, history: TransactionHistory, seed: int, context: Schedule,
                     rng: np.random.Generator) -> Schedule:
        cols: list[tuple[np.ndarray, ...]] = []
        for a, agent in enumerate(history.agent_ids):
            rec = history.records[agent]
            n = rec.out_amount.size
            pick = rng.integers(0, max(n, 1), size=n)
            arrival = rng.integers(0, self.ticks, size=n)
            cols.append((np.full(n, a), rec.out_receiver[pick], rec.out_amount[pick], arrival,
                         self._deadlines(arrival, rec.out_offset[pick]), rec.out_priority[pick]))
        snd, rcv, amt, arr, dl, pri = (np.concatenate([c[i] for c in cols]).astype(np.int64)
                                       for i in range(6))
        order = np.argsort(arr, kind="stable")
        return Schedule(snd[order], rcv[order], amt[order], arr[order], dl[order], pri[order],
                        context.event_tick, context.event_kind, context.event_from,
                        context.event_to, context.event_amount, seed=seed)


@dataclass(frozen=True)
class PolicyEvaluation:
    """One policy's costs for one agent on a sample set (int64 cents per sample)."""

    agent: str
    costs: np.ndarray  # int64 [sample]
    components: np.ndarray  # int64 [sample, component]
    settlement: np.ndarray  # float [sample]
    seeds: tuple[int | None, ...]
    table: CostTable

    @property
    def mean(self) -> float:
        return float(self.costs.mean()) if self.costs.size else 0.0


class BootstrapPolicyEvaluator:
    """Scores an agent's policies on samples; the executor decides where the work runs."""

    def __init__(self, executor: EvaluationExecutor) -> None:
        self.executor = executor

    def evaluate(self, agent: str, setup: EngineSetup, samples: Sequence[Schedule]) -> PolicyEvaluation:
        table = self.executor.evaluate(setup, samples)
        a = setup.index(agent)
        return PolicyEvaluation(
            agent=agent,
            costs=table.totals()[:, a],
            components=table.costs[:, :, a, :].sum(axis=1),
            settlement=table.settlement_rates()[:, a],
            seeds=tuple(s.seed for s in samples),
            table=table,
        )


def compute_paired_deltas(old: PolicyEvaluation, new: PolicyEvaluation) -> np.ndarray:
    """Per-sample ``old − new`` cost (int64 cents); positive means the new policy is cheaper."""
    if old.seeds != new.seeds:
        raise ValueError("paired deltas need both policies evaluated on the same samples")
    deltas: np.ndarray = (old.costs - new.costs).astype(np.int64)
    return deltas
