"""The Q1-2026 study (docs/studies/q1.md) as shipped: its files, and one replicate of each sweep.

* ``experiments/q1/make_files.py --check``: the committed scenario and experiment files are
  exactly what the generator writes (the families cannot drift apart by a hand edit);
* the campaign's design holds in every preset (every bank optimised from fraction 0.5, 10
  rounds, 50 paired samples, CI acceptance with a 95 % settlement floor, Release/Hold trees),
  and the bank-count family keeps the load per bank constant;
* smoke: one replicate of ``q1_campaign`` and of ``bank_count`` runs offline to the end
  (reduced iterations and samples), every run done, and ``paylab analyze`` reports each preset's
  optimised cost against its baseline.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from runner.experiment.config import ExperimentConfig
from sweep.spec import check_sweep_file
from tests.conftest import EXPERIMENTS
from tests.sweep.helpers_e2e import paylab, statuses

Q1 = EXPERIMENTS / "q1"
SWEEPS = EXPERIMENTS / "sweeps"
PRESETS = ["2b_3t", "3b_6t", "4b_8t", "2b_stress", "castro_exp2"]
BANK_COUNTS = [2, 3, 4, 5, 6, 8, 12, 16, 25, 50]
SMOKE = [
    "replicates=1",
    "convergence.max_iterations=2",
    "evaluation.num_samples=10",
    "evaluation.reference_samples=20",
    "evaluation.context_days=2",
]


def test_committed_files_are_what_the_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(Q1 / "make_files.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_follows_the_campaign_design(preset: str) -> None:
    config = ExperimentConfig.from_yaml(Q1 / f"{preset}.yaml")
    scenario = config.load_scenario().config
    banks = [a.id for a in scenario.agents]
    assert config.optimized_agents == banks  # every bank optimised
    assert config.convergence.max_iterations == 10
    assert config.evaluation.mode == "bootstrap" and config.evaluation.num_samples == 50
    acceptance = config.evaluation.acceptance
    assert (acceptance.rule, acceptance.confidence, acceptance.settlement_floor) == ("ci", 0.95, 0.95)
    for bank in banks:
        assert config.initial_policy_doc(bank)["parameters"]["initial_liquidity_fraction"] == 0.5
    assert set(config.policy_constraints.allowed_actions["payment_tree"]) == {"Release", "Hold"}
    assert scenario.simulation.num_days == 1 and scenario.deferred_crediting
    assert not scenario.lsm_config.enable_bilateral and not scenario.lsm_config.enable_cycles
    for agent in scenario.agents:
        assert (agent.opening_balance, agent.unsecured_cap, agent.liquidity_pool) == (0, 0, 1_000_000)
        assert agent.arrival_config is not None and agent.arrival_config.rate_per_tick == 2.0


def test_the_bank_count_family_keeps_the_load_per_bank() -> None:
    for n in BANK_COUNTS:
        config = ExperimentConfig.from_yaml(Q1 / "bank_count" / f"b{n:02d}.yaml")
        scenario = config.load_scenario().config
        assert len(scenario.agents) == n and config.optimized_agents == [a.id for a in scenario.agents]
        assert scenario.simulation.ticks_per_day == 8
        assert {a.arrival_config.rate_per_tick for a in scenario.agents if a.arrival_config} == {2.0}


@pytest.mark.parametrize(
    ("sweep_file", "name", "runs"),
    [
        ("q1_campaign.yaml", "q1_campaign", len(PRESETS) * 2 * 5),
        ("bank_count.yaml", "q1_bank_count", len(BANK_COUNTS) * 2 * 2 * 5),
    ],
)
def test_sweeps_expand_as_documented(sweep_file: str, name: str, runs: int) -> None:
    spec, cells = check_sweep_file(SWEEPS / sweep_file)
    assert spec.name == name and len(cells) == runs
    assert sum(cell.baseline for cell in cells) == runs // 2  # one baseline per optimised cell


@pytest.mark.parametrize(
    ("sweep_file", "name", "groups"),
    [
        ("q1_campaign.yaml", "q1_campaign", ["2b_3t", "3b_6t", "4b_8t", "2b_stress", "exp2"]),
        # 40 runs, up to 50 banks each: about 40 s on 2 cores, so it runs in CI's slow pass
        pytest.param("bank_count.yaml", "q1_bank_count", [f"b{n:02d}" for n in BANK_COUNTS], marks=pytest.mark.slow),
    ],
)
def test_one_replicate_of_each_sweep_runs_offline(
    tmp_path: Path, sweep_file: str, name: str, groups: list[str]
) -> None:
    out = tmp_path / "results"
    done = paylab(
        ["sweep", str(SWEEPS / sweep_file), *SMOKE, f"output={out}", "--executor", "local", "--quiet"],
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert {s.status for s in statuses(out, name).values()} == {"done"}
    table = paylab(["analyze", str(out), "--sweep", name, "--format", "csv"], cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    records = list(csv.DictReader(io.StringIO(table.stdout)))
    optimised = {r["scenario"]: r for r in records if r["model"] == "builtin/coordinate"}
    assert sorted(optimised) == sorted(groups)
    for record in optimised.values():  # each optimised group is paired with its baseline
        assert int(record["pairs"]) >= 1 and record["delta_mean"] != ""
