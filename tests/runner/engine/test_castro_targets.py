"""The validation targets of Castro et al. (2025), from our files and from SimCash's copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.engine.batch import evaluate_batch
from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.policy import parse_valid_policy
from runner.policy.tree import Policy
from runner.scenario import load_scenario
from tests.conftest import EXPERIMENTS
from tests.helpers import fraction_policy

OURS = EXPERIMENTS / "castro" / "scenarios"
SIMCASH = {"exp1": "exp1_2period.yaml", "exp2": "exp2_12period.yaml", "exp3": "exp3_joint.yaml"}


def compiled(f: float) -> Policy:
    return parse_valid_policy(fraction_policy(f))


def costs(path: Path, fa: float, fb: float) -> tuple[int, int]:
    sc = load_scenario(path)
    setup = build_setup(sc, {"BANK_A": compiled(fa), "BANK_B": compiled(fb)})
    sched = generate_schedule(sc.config, sc.config.simulation.rng_seed)
    batch = evaluate_batch(setup, [sched]).totals()[0]
    ref = ReferenceEngine(setup).run(sched)[0].totals()[0]
    assert list(batch) == list(ref)
    return int(batch[0]), int(batch[1])


def scenario_paths(name: str, compat: Path | None) -> list[Path]:
    paths = [OURS / f"{name}.yaml"]
    if compat is not None:
        paths.append(compat / "experiments" / "castro" / "configs" / SIMCASH[name])
    return paths


@pytest.fixture(params=["ours", "simcash"])
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pick(name: str, source: str, request: pytest.FixtureRequest) -> Path:
    if source == "ours":
        return OURS / f"{name}.yaml"
    compat = request.getfixturevalue("compat_dir")
    return compat / "experiments" / "castro" / "configs" / SIMCASH[name]


def test_exp1_baseline_and_equilibrium(source: str, request: pytest.FixtureRequest) -> None:
    path = pick("exp1", source, request)
    assert costs(path, 0.5, 0.5) == (5_000, 5_000)
    assert costs(path, 0.0, 0.2) == (0, 2_000)


def test_exp1_best_response_of_b_is_twenty_percent(source: str, request: pytest.FixtureRequest) -> None:
    path = pick("exp1", source, request)
    grid = [k / 100 for k in range(101)]
    b_costs = {f: costs(path, 0.0, f)[1] for f in grid}
    best = min(grid, key=lambda f: (b_costs[f], f))
    assert best == pytest.approx(0.20)
    assert b_costs[0.19] > b_costs[0.20] < b_costs[0.21]


def test_exp3_symmetric_points(source: str, request: pytest.FixtureRequest) -> None:
    path = pick("exp3", source, request)
    assert costs(path, 0.2, 0.2) == (1_998, 1_998)
    assert costs(path, 0.5, 0.5) == (4_995, 4_995)


def test_exp2_baseline_liquidity_cost(source: str, request: pytest.FixtureRequest) -> None:
    path = pick("exp2", source, request)
    sc = load_scenario(path)
    setup = build_setup(sc, {"BANK_A": compiled(0.5), "BANK_B": compiled(0.5)})
    table = evaluate_batch(setup, [generate_schedule(sc.config, seed) for seed in range(20)])
    liquidity = table.costs[:, :, :, 0].sum(axis=1)
    assert (liquidity == 49_800).all()


def test_ours_and_simcash_agree_on_exp2_samples(compat_dir: Path) -> None:
    ours = load_scenario(OURS / "exp2.yaml").config
    theirs = load_scenario(compat_dir / "experiments/castro/configs/exp2_12period.yaml").config
    for seed in range(5):
        a, b = generate_schedule(ours, seed), generate_schedule(theirs, seed)
        assert (a.amount == b.amount).all() and (a.deadline == b.deadline).all()
