"""The SimCash corpus (``../shared/compat/simcash``) reads as it is (README: SimCash files load as they are).

* every Castro config loads and runs a day (batch engine, checked against the reference);
* every example config either loads and runs a day, or fails with a `NotSupportedError`
  naming the dotted key of the first unsupported feature — which one, per file, is pinned
  below, so a newly supported feature (or a regression) shows up here. A config using a
  feature only the reference engine has runs there (as ``paylab simulate`` does), and the
  batch engine's evaluation path refuses it naming the feature;
* the multi-day examples run their whole episode through both engines, to the cent (slow).

Tests use the ``compat_dir`` fixture, which skips when the corpus is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.engine.batch import evaluate_batch
from runner.engine.reference import ReferenceEngine
from runner.engine.results import CostTable
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.errors import NotSupportedError
from runner.scenario import load_scenario
from runner.scenario.support import batch_missing_features, unsupported_features
from tests.runner.engine.strategies import assert_tables_equal

CASTRO = "experiments/castro/configs"
EXAMPLES = "examples/configs"
CASTRO_FILES = ("exp1_2period.yaml", "exp2_12period.yaml", "exp3_joint.yaml")
# file → None if it runs, else the dotted key its NotSupportedError names
EXAMPLE_OUTCOMES: dict[str, str | None] = {
    "advanced_policy_crisis.yaml": None,
    "bis_liquidity_delay_tradeoff.yaml": None,
    "crisis_resolution_10day.yaml": None,
    "suboptimal_policies_10day.yaml": None,
    "suboptimal_policies_25day.yaml": None,
    "target2_crisis_25day.yaml": None,
    "target2_crisis_25day_bad_policy.yaml": None,
    "target2_lsm_features_test.yaml": None,
    "test_minimal_eod.yaml": None,
    "test_near_deadline.yaml": None,
    "test_priority_escalation.yaml": None,
}


def run_one_day(path: Path, seeds: tuple[int, ...] = (0, 1)) -> CostTable:
    """Load ``path`` and simulate its first day for ``seeds`` (rng_seed first); the batch
    engine must agree with the reference, or refuse (naming the feature) what it lacks."""
    sc = load_scenario(path)
    setup = build_setup(sc, ticks=sc.config.simulation.ticks_per_day, engine="reference")
    all_seeds = (sc.config.simulation.rng_seed, *seeds)
    schedules = [generate_schedule(sc.config, s, setup.horizon) for s in all_seeds]
    table = CostTable.concat([ReferenceEngine(setup).run(s)[0] for s in schedules])
    if setup.batch_missing:
        key, detail = setup.batch_missing[0]
        with pytest.raises(NotSupportedError, match=re.escape(detail)) as info:
            build_setup(sc, ticks=sc.config.simulation.ticks_per_day)
        assert info.value.path == key
    else:
        assert_tables_equal(evaluate_batch(setup, schedules), table, path.name)
    assert table.costs.shape[:3] == (len(schedules), 1, setup.n_agents)
    assert (table.costs >= 0).all()
    return table


@pytest.mark.parametrize("name", CASTRO_FILES)
def test_castro_config_loads_and_runs(compat_dir: Path, name: str) -> None:
    table = run_one_day(compat_dir / CASTRO / name)
    assert table.arrived_count.sum() > 0


def test_castro_and_example_lists_are_complete(compat_dir: Path) -> None:
    """Every corpus file is covered by the tests below (a new file must be classified)."""
    assert sorted(p.name for p in (compat_dir / CASTRO).iterdir()) == sorted(CASTRO_FILES)
    assert sorted(p.name for p in (compat_dir / EXAMPLES).iterdir()) == sorted(EXAMPLE_OUTCOMES)


@pytest.mark.parametrize(("name", "unsupported_key"), sorted(EXAMPLE_OUTCOMES.items()))
def test_example_config_runs_or_names_what_is_unsupported(
    compat_dir: Path, name: str, unsupported_key: str | None
) -> None:
    path = compat_dir / EXAMPLES / name
    if unsupported_key is None:
        run_one_day(path)
        return
    with pytest.raises(NotSupportedError) as info:
        sc = load_scenario(path)
        build_setup(sc, engine="reference")
    err = info.value
    assert "not supported yet" in str(err)
    assert err.path == unsupported_key
    assert unsupported_key in str(err)
    assert str(path) in str(err), "the error names the file"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n in EXAMPLE_OUTCOMES if "day" in n and "test_" not in n))
def test_multi_day_example_whole_episode_batch_equals_reference(compat_dir: Path, name: str) -> None:
    """The whole episode (10 or 25 days, the file's seed): queues that grow over days —
    gridlock under limits in the TARGET2 crisis — through the batch engine's shortcuts,
    to the cent and to the settlement tick of every payment."""
    sc = load_scenario(compat_dir / EXAMPLES / name)
    setup = build_setup(sc, engine="reference")
    assert not setup.batch_missing
    assert sc.config.simulation.num_days >= 10
    schedules = [generate_schedule(sc.config, sc.config.simulation.rng_seed, setup.horizon)]
    want = ReferenceEngine(setup).run(schedules[0])[0]
    got = evaluate_batch(setup, schedules)
    assert_tables_equal(got, want, name)
    assert (got.settle_tick == want.settle_tick).all()


def test_unsupported_example_features_are_reported(compat_dir: Path) -> None:
    """Report (not assert) everything that keeps each example from running, beyond the
    first key the loader names (``-s`` or ``-rP`` shows it)."""
    import yaml

    from runner.scenario.config import ScenarioConfig

    lines = []
    for name in sorted(EXAMPLE_OUTCOMES):
        raw = yaml.safe_load((compat_dir / EXAMPLES / name).read_text())
        cfg = ScenarioConfig.model_validate(raw)
        found = unsupported_features(cfg) + [(k, f"{d}, batch engine") for k, d in batch_missing_features(cfg)]
        keys = {re.sub(r"\[\d+\]", "[*]", key): detail for key, detail in found}
        described = [f"{k} ({d})" if k.startswith("scenario_events") else k for k, d in keys.items()]
        lines.append(f"{name}: {'; '.join(sorted(set(described))) or 'runs'}")
    print("\nSimCash example configs, unsupported features:\n  " + "\n  ".join(lines))
    assert len(lines) == len(EXAMPLE_OUTCOMES)
