"""Evaluation plans and sample worlds: the mode and the world are picked once, and each plan
hands the loop the days its mode defines (see `runner.experiment.plans`)."""

from __future__ import annotations

import numpy as np
import pytest

from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import ScheduleGenerator
from runner.engine.setup import build_setup
from runner.experiment.bootstrap import FullWorld, SampleFactory, SandboxWorld, TransactionHistory
from runner.experiment.plans import BootstrapPlan, DeterministicPlan, make_plan
from runner.policy.validate import parse_valid_policy
from runner.seeds import bootstrap_seed, derive_seed, iteration_seed, reference_seed
from tests.runner.experiment.support import EXP1, EXP2, SMALL_EXP2, config, fraction_policy

MODES = ("bootstrap", "deterministic", "deterministic-pairwise", "deterministic-temporal")


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_maps_to_one_plan(mode: str) -> None:
    cfg = config(EXP2, *SMALL_EXP2, f"evaluation.mode={mode}")
    scenario = cfg.load_scenario()
    plan = make_plan(cfg, scenario, 12, ScheduleGenerator(scenario.config, 12), 0)
    assert isinstance(plan, BootstrapPlan if mode == "bootstrap" else DeterministicPlan)


@pytest.mark.parametrize("replicate", [0, 3])
def test_bootstrap_plan_draws_fresh_days_and_samples_from_the_master_seed(replicate: int) -> None:
    cfg = config(EXP2, *SMALL_EXP2, "evaluation.context_days=3", "master_seed=7")
    scenario = cfg.load_scenario()
    plan = make_plan(cfg, scenario, 12, ScheduleGenerator(scenario.config, 12), replicate)
    for it in (1, 2, 5):
        first = iteration_seed(7, replicate, it)
        assert plan.context_seeds(it) == [first, derive_seed(first, "day", 1), derive_seed(first, "day", 2)]
    assert plan.context_seeds(1) != plan.context_seeds(2)
    reference = plan.reference_schedules()
    assert [s.seed for s in reference] == [reference_seed(7, replicate, k) for k in range(20)]
    context = reference[0]
    policies = {a: parse_valid_policy(fraction_policy(0.5)) for a in ("BANK_A", "BANK_B")}
    table, _ = ReferenceEngine(build_setup(scenario, policies)).run(context)
    histories = [TransactionHistory(("BANK_A", "BANK_B"), context, table.settle_ticks[0])]
    samples = plan.samples("BANK_A", 4, context, histories)
    assert len(samples) == 10
    assert {s.seed for s in samples} == {bootstrap_seed(7, replicate, 4, "BANK_A")}


@pytest.mark.parametrize("replicate", [0, 3])
def test_deterministic_plan_replays_one_fixed_day(replicate: int) -> None:
    cfg = config(EXP1, "master_seed=7")
    scenario = cfg.load_scenario()
    ticks = scenario.config.episode_ticks
    plan = make_plan(cfg, scenario, ticks, ScheduleGenerator(scenario.config, ticks), replicate)
    seed = derive_seed(7, "replicate", replicate, "deterministic-day")
    assert all(plan.context_seeds(it) == [seed] for it in (1, 2, 9))
    (reference,) = plan.reference_schedules()
    assert reference.seed == seed
    assert list(plan.samples("BANK_A", 3, reference, [])) == [reference]
    policies = {a: parse_valid_policy(fraction_policy(0.5)) for a in ("BANK_A", "BANK_B")}
    assert plan.setup("BANK_A", policies).agent_ids == build_setup(scenario, policies, ticks=ticks).agent_ids


@pytest.mark.parametrize(("world", "kind", "agents"), [("sandbox", SandboxWorld, 3), ("full", FullWorld, 2)])
def test_factory_builds_its_world_once_and_reuses_setups(world: str, kind: type, agents: int) -> None:
    scenario = config(EXP2, *SMALL_EXP2).load_scenario()
    factory = SampleFactory(scenario, 12, world)
    assert isinstance(factory.world, kind)
    policies = {a: parse_valid_policy(fraction_policy(0.5)) for a in ("BANK_A", "BANK_B")}
    setup = factory.setup("BANK_A", policies)
    assert len(setup.agent_ids) == agents  # the sandbox adds a source and a sink
    assert factory.setup("BANK_A", dict(policies)) is setup  # same policy objects: same setup
    other = {**policies, "BANK_B": parse_valid_policy(fraction_policy(0.2))}
    assert (factory.setup("BANK_A", other) is setup) == (world == "sandbox")  # BANK_B is outside the sandbox


def test_full_world_needs_the_context_day() -> None:
    scenario = config(EXP2, *SMALL_EXP2).load_scenario()
    world = FullWorld(scenario, 12)
    with pytest.raises(ValueError, match="context day"):
        world.samples([], "BANK_A", np.zeros(1, dtype=np.int64), np.zeros((1, 0)), 1, None)
