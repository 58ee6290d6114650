"""Evaluation plans: which days the loop simulates and which samples judge a policy.

``evaluation.mode`` is read once, by `make_plan`; the loop then asks its plan and never tests
the mode again.

* `BootstrapPlan` — a new context day (or ``context_days`` of them) each iteration, and per
  agent ``num_samples`` bootstrap samples resampled from them (see `SampleFactory`);
  policies are judged on a fixed set of ``reference_samples`` days.
* `DeterministicPlan` — one fixed day, the same every iteration, simulated with every agent's
  current policy: it is the context day, an agent's only sample and the reference set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from runner.engine.schedule import Schedule, ScheduleGenerator
from runner.engine.setup import EngineSetup, build_setup
from runner.experiment.bootstrap import SampleFactory, TransactionHistory
from runner.experiment.config import ExperimentConfig
from runner.policy.tree import Policy
from runner.scenario.loader import Scenario
from runner.seeds import bootstrap_seed, derive_seed, iteration_seed, reference_seed


class EvaluationPlan(Protocol):
    """What the optimisation loop needs of an evaluation mode."""

    def context_seeds(self, it: int) -> list[int]:
        """The seeds of iteration ``it``'s context days (at least one)."""
        ...

    def reference_schedules(self) -> list[Schedule]:
        """The fixed days every iteration's policies are reported on."""
        ...

    def samples(
        self, agent: str, it: int, context: Schedule, histories: Sequence[TransactionHistory]
    ) -> Sequence[Schedule]:
        """The days ``agent``'s current policy and its proposal are both judged on."""
        ...

    def setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        """Engine parameters for ``agent``'s samples with ``policies`` in force."""
        ...


class BootstrapPlan:
    """Fresh context days each iteration; each agent judged on bootstrap samples of them."""

    def __init__(
        self, config: ExperimentConfig, scenario: Scenario, ticks: int, days: ScheduleGenerator, replicate: int
    ) -> None:
        self.config, self.days, self.replicate = config, days, replicate
        self.factory = SampleFactory(scenario, ticks, config.evaluation.world)

    def context_seeds(self, it: int) -> list[int]:
        first = iteration_seed(self.config.master_seed, self.replicate, it)
        return [first, *(derive_seed(first, "day", d) for d in range(1, self.config.evaluation.context_days))]

    def reference_schedules(self) -> list[Schedule]:
        return [
            self.days.draw(reference_seed(self.config.master_seed, self.replicate, k))
            for k in range(self.config.evaluation.reference_samples)
        ]

    def samples(
        self, agent: str, it: int, context: Schedule, histories: Sequence[TransactionHistory]
    ) -> Sequence[Schedule]:
        seed = bootstrap_seed(self.config.master_seed, self.replicate, it, agent)
        return self.factory.samples(histories, agent, seed, self.config.evaluation.num_samples, context)

    def setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        return self.factory.setup(agent, policies)


class DeterministicPlan:
    """One fixed day, replayed every iteration with all agents' current policies."""

    def __init__(
        self, config: ExperimentConfig, scenario: Scenario, ticks: int, days: ScheduleGenerator, replicate: int
    ) -> None:
        self.scenario, self.ticks, self.days = scenario, ticks, days
        self.seed = derive_seed(config.master_seed, "replicate", replicate, "deterministic-day")

    def context_seeds(self, it: int) -> list[int]:
        return [self.seed]

    def reference_schedules(self) -> list[Schedule]:
        return [self.days.draw(self.seed)]

    def samples(
        self, agent: str, it: int, context: Schedule, histories: Sequence[TransactionHistory]
    ) -> Sequence[Schedule]:
        return [context]

    def setup(self, agent: str, policies: Mapping[str, Policy]) -> EngineSetup:
        return build_setup(self.scenario, dict(policies), ticks=self.ticks)


def make_plan(
    config: ExperimentConfig, scenario: Scenario, ticks: int, days: ScheduleGenerator, replicate: int
) -> EvaluationPlan:
    """The plan ``config.evaluation.mode`` names (every deterministic mode shares one plan)."""
    plan = DeterministicPlan if config.evaluation.deterministic else BootstrapPlan
    return plan(config, scenario, ticks, days, replicate)
