"""Bootstrap evaluation: samples of an agent's day, scored for old and new policy alike.

* `TransactionHistory` — from one simulated context day, each agent's outgoing payments
  (amount, priority, receiver, deadline offset) and settled incoming payments (settlement
  offset).
* `SampleFactory` — builds the samples an agent's policies are judged on, in the world
  ``evaluation.world`` names (a `SampleWorld`, picked once): `SandboxWorld` (SOURCE → AGENT →
  SINK: the agent's resampled outgoing payments go to a sink, its resampled incoming
  settlements arrive from a source as liquidity beats) or `FullWorld` (every agent's day
  resampled and all agents re-simulated with their current policies). Unlike SimCash,
  samples keep the scenario's rules (deferred crediting, deadline caps, cost rates,
  end-of-day scope) because the sandbox is built from the same scenario config.
* `BootstrapPolicyEvaluator` — scores policies on samples through an executor (in-process or
  Ray tasks: same results) and `compute_paired_deltas` compares two runs on the same samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from runner.engine.results import CostTable
from runner.engine.schedule import KIND_SCHEDULED_SETTLEMENT, Schedule, cap_deadlines
from runner.engine.schedule_batch import EVENT_FIELDS, ScheduleBatch
from runner.engine.setup import EngineSetup, build_setup
from runner.experiment.executor import EvaluationExecutor
from runner.policy.library import named_policy
from runner.policy.tree import Policy
from runner.policy.validate import parse_valid_policy
from runner.scenario.agents import AgentConfig
from runner.scenario.config import ScenarioConfig
from runner.scenario.loader import Scenario
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
    """Per-agent records of a context day: its schedule and the tick each payment settled at
    (-1: unsettled), as an engine's `CostTable.settle_ticks` gives them."""

    def __init__(self, agent_ids: Sequence[str], schedule: Schedule, settle_ticks: np.ndarray) -> None:
        self.agent_ids = tuple(agent_ids)
        self.records: dict[str, AgentRecords] = {}
        for a, agent in enumerate(self.agent_ids):
            out = schedule.sender == a
            inc = (schedule.receiver == a) & (settle_ticks >= 0)
            self.records[agent] = AgentRecords(
                out_amount=schedule.amount[out],
                out_priority=schedule.priority[out],
                out_receiver=schedule.receiver[out],
                out_offset=schedule.deadline[out] - schedule.arrival[out],
                in_amount=schedule.amount[inc],
                in_offset=settle_ticks[inc] - schedule.arrival[inc],
            )


def sandbox_config(config: ScenarioConfig, agent: str) -> ScenarioConfig:
    """The scenario reduced to SOURCE → AGENT → SINK, keeping every rule and rate."""
    me = config.agent(agent).model_copy(update={"arrival_config": None})
    source = AgentConfig(id=SOURCE, opening_balance=SOURCE_BALANCE)
    sink = AgentConfig(id=SINK, opening_balance=0)
    return config.model_copy(update={"agents": [me, source, sink], "scenario_events": []})


def _capped_deadlines(config: ScenarioConfig, arrival: np.ndarray, offset: np.ndarray) -> np.ndarray:
    return cap_deadlines(
        arrival, offset, config.simulation.ticks_per_day, config.episode_ticks, config.deadline_cap_at_eod
    )


def _draw(u: np.ndarray, n: int) -> np.ndarray:
    """Uniforms in [0, 1) → integers in [0, n) (n ≥ 1)."""
    picked: np.ndarray = np.minimum((u * n).astype(np.int64), n - 1)
    return picked


class SampleWorld(Protocol):
    """Where an agent's samples are simulated: what `SampleFactory` needs of a world."""

    def policies_used(self, agent: str, policies: Mapping[str, Policy]) -> tuple[Policy, ...]:
        """The policies ``agent``'s engine setup is built from (same objects: same setup)."""
        ...

    def build_setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        """Engine parameters for ``agent``'s samples with ``policies`` in force."""
        ...

    def width(self, history: TransactionHistory, agent: str) -> int:
        """How many uniforms one sample of ``history`` uses."""
        ...

    def samples(
        self,
        histories: Sequence[TransactionHistory],
        agent: str,
        day: np.ndarray,
        u: np.ndarray,
        seed: int,
        context: Schedule | None,
    ) -> ScheduleBatch:
        """Sample k resamples ``histories[day[k]]`` with the uniforms of row k of ``u``."""
        ...


class SandboxWorld:
    """SOURCE → AGENT → SINK: the agent's resampled outgoing payments go to a sink, its
    resampled incoming settlements arrive from a source as liquidity beats."""

    def __init__(self, scenario: Scenario, ticks: int) -> None:
        self.config = scenario.config
        self.ticks = ticks
        self.fifo = parse_valid_policy(named_policy("Fifo"))
        self._sandboxes: dict[str, ScenarioConfig] = {}

    def policies_used(self, agent: str, policies: Mapping[str, Policy]) -> tuple[Policy, ...]:
        return (policies[agent],)

    def build_setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        if agent not in self._sandboxes:
            self._sandboxes[agent] = sandbox_config(self.config, agent)
        return build_setup(
            self._sandboxes[agent], {agent: policies[agent], SOURCE: self.fifo, SINK: self.fifo}, ticks=self.ticks
        )

    def width(self, history: TransactionHistory, agent: str) -> int:
        rec = history.records[agent]
        return 2 * rec.out_amount.size + 2 * rec.in_amount.size

    def samples(
        self,
        histories: Sequence[TransactionHistory],
        agent: str,
        day: np.ndarray,
        u: np.ndarray,
        seed: int,
        context: Schedule | None,
    ) -> ScheduleBatch:
        """Row k of ``u`` holds sample k's uniforms, laid out for its day's records (``n``
        outgoing, ``m`` incoming): n picks, n arrival ticks, m picks, m ticks.

        All samples at once: each row is padded to the longest day, the padding sorted after
        the real entries (tick ``ticks``) and dropped when flattening.
        """
        recs = [h.records[agent] for h in histories]
        n_day = np.array([r.out_amount.size for r in recs], dtype=np.int64)
        m_day = np.array([r.in_amount.size for r in recs], dtype=np.int64)
        n, m = n_day[day][:, None], m_day[day][:, None]  # [sample, 1]
        out_base, in_base = (np.concatenate(([0], np.cumsum(x)[:-1]))[day][:, None] for x in (n_day, m_day))

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(r, name) for r in recs])

        def draw(first: np.ndarray, width: int, values: int | np.ndarray) -> np.ndarray:
            """Integers in [0, values) from ``u[k, first[k] + j]`` for j < width (see `_draw`)."""
            col = np.minimum(first + np.arange(width), max(u.shape[1] - 1, 0))
            picked: np.ndarray = np.minimum((np.take_along_axis(u, col, 1) * values).astype(np.int64), values - 1)
            return picked

        def sort_valid(key: np.ndarray, valid: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
            key = np.where(valid, key, self.ticks)  # padding sorts last; ties keep draw order
            order = np.argsort(key, axis=1, kind="stable")
            return [np.take_along_axis(x, order, 1)[valid] for x in (key, *others)]

        width_n, width_m = int(n_day.max()), int(m_day.max())
        valid_n = np.arange(width_n) < n
        pick = out_base + np.where(valid_n, draw(np.zeros_like(n), width_n, np.maximum(n, 1)), 0)
        arrival = draw(n, width_n, self.ticks)
        arrival, pick = sort_valid(arrival, valid_n, pick)
        valid_m = np.arange(width_m) < m
        pick_in = in_base + np.where(valid_m, draw(2 * n, width_m, np.maximum(m, 1)), 0)
        arrival_in = draw(2 * n + m, width_m, self.ticks)
        in_offset = cat("in_offset")[np.where(valid_m, pick_in, 0)] if width_m and m_day.any() else pick_in
        beat_tick = np.minimum(arrival_in + in_offset, self.ticks - 1)
        beat_tick, pick_in = sort_valid(beat_tick, valid_m, pick_in)
        # sandbox agent indices, agents sorted: [AGENT, ~SINK, ~SOURCE] ('~' sorts last)
        me, sink, source = 0, 1, 2
        n_pay, n_ev = arrival.size, beat_tick.size
        columns = {
            "sender": np.full(n_pay, me, dtype=np.int64),
            "receiver": np.full(n_pay, sink, dtype=np.int64),
            "amount": cat("out_amount")[pick],
            "arrival": arrival,
            "deadline": _capped_deadlines(self.config, arrival, cat("out_offset")[pick]),
            "priority": cat("out_priority")[pick],
            "event_tick": beat_tick,
            "event_kind": np.full(n_ev, KIND_SCHEDULED_SETTLEMENT, dtype=np.int64),
            "event_from": np.full(n_ev, source, dtype=np.int64),
            "event_to": np.full(n_ev, me, dtype=np.int64),
            "event_amount": cat("in_amount")[pick_in],
        }
        starts = [np.concatenate(([0], np.cumsum(x[:, 0]))).astype(np.int64) for x in (n, m)]
        return ScheduleBatch(columns, starts[0], starts[1], (seed,) * day.size)


class FullWorld:
    """Every agent's day resampled and all agents re-simulated with their current policies."""

    def __init__(self, scenario: Scenario, ticks: int) -> None:
        self.scenario = scenario
        self.config = scenario.config
        self.ticks = ticks

    def policies_used(self, agent: str, policies: Mapping[str, Policy]) -> tuple[Policy, ...]:
        return tuple(policies[a] for a in sorted(policies))

    def build_setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        return build_setup(self.scenario, dict(policies), ticks=self.ticks)

    def width(self, history: TransactionHistory, agent: str) -> int:
        return sum(2 * r.out_amount.size for r in history.records.values())

    def samples(
        self,
        histories: Sequence[TransactionHistory],
        agent: str,
        day: np.ndarray,
        u: np.ndarray,
        seed: int,
        context: Schedule | None,
    ) -> ScheduleBatch:
        if context is None:
            raise ValueError("full-world samples need the context day's schedule (its scenario events)")
        blocks, rows_of = [], []
        for d, history in enumerate(histories):
            rows = np.flatnonzero(day == d)
            if rows.size:
                blocks.append(self._block(history, u[rows], context, seed))
                rows_of.append(rows)
        # the blocks hold the samples day by day: put them back in sample order
        return ScheduleBatch.concat(blocks).take(np.argsort(np.concatenate(rows_of), kind="stable"))

    def _block(self, history: TransactionHistory, u: np.ndarray, context: Schedule, seed: int) -> ScheduleBatch:
        cols: list[tuple[np.ndarray, ...]] = []
        at = 0
        rows = u.shape[0]
        for a, agent in enumerate(history.agent_ids):
            rec = history.records[agent]
            n = rec.out_amount.size
            pick = _draw(u[:, at : at + n], max(n, 1))
            arrival = _draw(u[:, at + n : at + 2 * n], self.ticks)
            at += 2 * n
            cols.append(
                (
                    np.full((rows, n), a, dtype=np.int64),
                    rec.out_receiver[pick],
                    rec.out_amount[pick],
                    arrival,
                    _capped_deadlines(self.config, arrival, rec.out_offset[pick]),
                    rec.out_priority[pick],
                )
            )
        snd, rcv, amt, arr, dl, pri = (np.concatenate([c[i] for c in cols], axis=1) for i in range(6))
        order = np.argsort(arr, axis=1, kind="stable")  # ties: agents in id order, then draw order
        snd, rcv, amt, arr, dl, pri = (np.take_along_axis(x, order, 1) for x in (snd, rcv, amt, arr, dl, pri))
        payments = {"sender": snd, "receiver": rcv, "amount": amt, "arrival": arr, "deadline": dl, "priority": pri}
        events = {f: np.tile(getattr(context, f), (rows, 1)) for f in EVENT_FIELDS}
        return ScheduleBatch.from_blocks(payments, events, [seed] * rows)


#: ``evaluation.world`` → the world its samples are built in (chosen once, by `SampleFactory`).
WORLDS: dict[str, Callable[[Scenario, int], SampleWorld]] = {"sandbox": SandboxWorld, "full": FullWorld}


class SampleFactory:
    """Builds one agent's bootstrap samples from a context day's history, in ``world``."""

    def __init__(self, scenario: Scenario, ticks: int, world: str) -> None:
        self.world = WORLDS[world](scenario, ticks)
        # per agent, the last setup built and the policy objects it was built for (kept alive,
        # so identity means "same policies"): the current policy is evaluated every iteration
        self._last: dict[str, tuple[tuple[Policy, ...], EngineSetup]] = {}

    def setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        """Engine parameters for ``agent``'s samples with ``policies`` in force."""
        used = self.world.policies_used(agent, policies)
        last = self._last.get(agent)
        if last is not None and len(last[0]) == len(used) and all(a is b for a, b in zip(last[0], used, strict=True)):
            return last[1]
        setup = self.world.build_setup(agent, policies)
        self._last[agent] = (used, setup)
        return setup

    def samples(
        self,
        histories: Sequence[TransactionHistory],
        agent: str,
        stream_seed: int,
        count: int,
        context: Schedule | None = None,
    ) -> ScheduleBatch:
        """``count`` bootstrap samples of ``agent``'s day, all drawn from one random stream.

        Sample k uses only row k of a ``[count, width]`` block of uniforms (the width is fixed
        by the histories), so a sample does not depend on how many samples are drawn, nor on
        where they are evaluated. Each sample first picks one of the context days, then
        resamples that day's records with replacement and draws new arrival ticks. Every
        sample carries ``seed = stream_seed``; (seed, index) identifies its draws exactly.
        """
        widths = [self.world.width(h, agent) for h in histories]
        u = generator(stream_seed).random((count, 1 + max(widths)))
        day = np.minimum((u[:, 0] * len(histories)).astype(np.int64), len(histories) - 1)
        return self.world.samples(histories, agent, day, u[:, 1:], stream_seed, context)


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
        batch = ScheduleBatch.of(samples)
        table = self.executor.evaluate(setup, batch)
        a = setup.index(agent)
        return PolicyEvaluation(
            agent=agent,
            costs=table.totals()[:, a],
            components=table.costs[:, :, a, :].sum(axis=1),
            settlement=table.settlement_rates()[:, a],
            seeds=batch.seeds,
            table=table,
        )


def compute_paired_deltas(old: PolicyEvaluation, new: PolicyEvaluation) -> np.ndarray:
    """Per-sample ``old − new`` cost (int64 cents); positive means the new policy is cheaper."""
    if old.seeds != new.seeds:
        raise ValueError("paired deltas need both policies evaluated on the same samples")
    deltas: np.ndarray = (old.costs - new.costs).astype(np.int64)
    return deltas
