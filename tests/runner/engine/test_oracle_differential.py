"""Differential test: paylab's engines against the real SimCash engine (the oracle), to the cent.

Hypothesis draws deterministic SimCash-format scenarios (`oracle_scenarios`: payments from
``CustomTransactionArrival`` events) that use the features of issue #10 our engines run today
(`oracle_scenarios.REFERENCE_FEATURES` / `BATCH_FEATURES`). Each runs through the oracle and
through paylab exactly as ``paylab simulate --set eod_penalty_scope=overdue`` runs it; per-agent
costs (every component), payment counts and every payment's settlement tick must agree.

Where docs/engine.md decides to differ from SimCash, the scenarios avoid the difference (see
`oracle_scenarios`) or the test asserts that the difference is exactly the documented rule:

* deadline penalty in the first overdue tick: SimCash skips it, paylab charges it — paylab's
  deadline penalty must equal SimCash's plus the penalty of each payment SimCash settled in
  the tick after its deadline (`expected_paylab_costs`);
* 3-bank cycles: SimCash finds only the orientation u→v→w→u with u<v<w; paylab settles both
  (`test_three_cycle_orientations`, once the cycles feature is on).

Skips with the reason when ``../shared/oracle/`` is absent. The default run draws
`DEFAULT_EXAMPLES` scenarios with a fixed seed (``derandomize``); the ``slow`` run draws
`SLOW_EXAMPLES`.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given, note, reject, settings
from hypothesis import strategies as st

from tests.runner.engine.oracle import (
    Outcome,
    oracle_json,
    oracle_missing,
    run_oracle,
    run_paylab,
    write_case,
)
from tests.runner.engine.oracle_scenarios import (
    BATCH_FEATURES,
    FEATURES,
    REFERENCE_FEATURES,
    REQUIRES,
    Case,
    build_case,
)
from tests.runner.engine.strategies import SUPPRESS, settlement_label

pytestmark = pytest.mark.skipif(oracle_missing() is not None, reason=str(oracle_missing()))

DEFAULT_EXAMPLES = 100
SLOW_EXAMPLES = 1_000
LSM_EXAMPLES = 50
RUNS_EXAMPLES = 100


def penalty_cents(spec: Any, amount: int) -> int:
    """SimCash's penalty for a payment of ``amount``: fixed, or floor(amount × bps) (§5.1)."""
    if isinstance(spec, dict) and spec.get("mode") == "rate":
        return amount * int(float(spec["bps_per_event"]) * 10**6) // 10**10
    if isinstance(spec, dict):
        return int(spec["amount"])
    return 50_000 if spec is None else int(spec)


def expected_paylab_costs(case: Case, oracle: Outcome) -> dict[str, dict[str, int]]:
    """SimCash's costs plus the deadline penalties paylab charges and SimCash skips."""
    costs = copy.deepcopy(oracle.costs)
    spec = case.scenario["cost_rates"].get("deadline_penalty")
    for sender, amount in oracle.settled_first_overdue:
        costs[sender]["deadline_penalty"] += penalty_cents(spec, amount)
    return costs


# paylab trace events and payment-tree answers worth counting (what the draws exercise)
COVERAGE_EVENTS = {
    "LsmCycle",
    "LsmOffset",
    "CollateralPost",
    "CollateralWithdraw",
    "CollateralTimerWithdraw",
    "CollateralAdjustment",
    "ResubmitToRtgs",
    "Reprioritize",
    "Split",
}


def retried_after_found_cycle(oracle: Outcome) -> bool:
    """Whether SimCash's LSM may have settled something in a Queue-2 retry that followed a
    cycle step that found cycles but settled none (docs/engine.md: paylab retries only after
    a cycle settled). From SimCash's ``LSM_DEBUG`` lines; such cases are not compared."""
    return any(row["found_rounds"] > row["cycles_settled"] and row["value"] > 0 for row in oracle.lsm_ticks.values())


def describe(case: Case) -> str:
    """The case as files, to paste into a finding."""
    text = yaml.safe_dump(case.scenario, sort_keys=False)
    for name, doc in case.policies.items():
        text += f"\n# {name}\n{json.dumps(doc)}\n"
    return text


def compare(case: Case, folder: Path) -> None:
    keep = os.environ.get("ORACLE_KEEP")  # a folder: failing cases are written there as files
    try:
        _compare(case, folder)
    except AssertionError:
        if keep:
            write_case(Path(keep) / f"case{len(list(Path(keep).glob('case*')))}", case.scenario, case.policies)
        raise


def _compare(case: Case, folder: Path) -> None:
    path = write_case(folder, case.scenario, case.policies)
    if case.oracle_scenario is not None:
        event("threshold_ticks: SimCash runs start_escalating_at_ticks (documented difference)")
        oracle = run_oracle(write_case(folder / "oracle", case.oracle_scenario, case.policies))
    else:
        oracle = run_oracle(path)
    note(describe(case))
    if retried_after_found_cycle(oracle):
        event("SimCash's LSM retried Queue 2 after an unsettled cycle (documented difference)")
        reject()
    ours = run_paylab(path, "reference")
    kinds = {e["type"] for e in ours.events} | {e["action"] for e in ours.events if e["type"] == "PolicyDecision"}
    for kind in sorted(kinds & COVERAGE_EVENTS):
        event(f"paylab: {kind}")
    note(f"oracle lsm: {oracle.lsm}")
    event(f"features: {len(case.features)}")
    for name in sorted(case.features):
        event(f"feature {name}")
    if oracle.settled_first_overdue:
        event("a payment settled in its first overdue tick (documented difference)")
    if oracle.lsm.get("bilateral_offsets"):
        event("SimCash offset bilaterally")
    if oracle.lsm.get("cycles"):
        event("SimCash settled a cycle")
    arrived, settled = sum(oracle.arrived.values()), sum(oracle.settled.values())
    event(settlement_label(arrived, settled))

    assert ours.payments == oracle.payments, "settlement ticks (sender, receiver, amount, arrival, settled)"
    assert ours.arrived == oracle.arrived
    assert ours.balances == oracle.balances, "final balances"
    assert ours.settled == oracle.settled
    assert ours.costs == expected_paylab_costs(case, oracle), f"costs differ; SimCash's own figures: {oracle.costs}"
    if case.batch_runs:
        batch = run_paylab(path, "batch")
        assert batch == ours, "batch engine differs from the reference engine"


# The LSM-centred draw: cycles always (when supported), few features that take liquidity away.
LSM_FEATURES = frozenset(
    {"bilateral", "cycles", "limits", "queue1_ordering", "priority_escalation", "priority_mode", "pools", "collateral"}
)


@st.composite
def cases(draw: st.DrawFn, among: frozenset[str] = REFERENCE_FEATURES, always: frozenset[str] = frozenset()) -> Case:
    features = {f for f in sorted(among & REFERENCE_FEATURES) if f in always or draw(st.booleans())}
    return build_case(
        draw(st.integers(0, 2**32 - 1)),
        n_agents=draw(st.integers(2, 5)),
        tpd=draw(st.integers(2, 8)),
        days=draw(st.integers(1, 2)),
        features=frozenset(features),
        n_payments=draw(st.integers(0, 25)),
    )


def _settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, suppress_health_check=SUPPRESS)


@_settings(DEFAULT_EXAMPLES)
@given(case=cases())
def test_engines_match_simcash(case: Case) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        compare(case, Path(tmp))


@_settings(LSM_EXAMPLES)
@given(case=cases(LSM_FEATURES, always=frozenset({"cycles"}) & REFERENCE_FEATURES))
def test_engines_match_simcash_on_lsm_days(case: Case) -> None:
    """Rings of payments over 3+ banks with the LSM on: cycles settle, limits block them."""
    with tempfile.TemporaryDirectory() as tmp:
        compare(case, Path(tmp))


# The splitting draw on the batch engine's runs path (`runner.engine.batch_runs`: deferred
# crediting; no LSM, limits, priority_mode or Queue-2 action; a StaggerSplit drawn takes the
# day off it): a split payment's parts are one row there, settled part by part as SimCash
# settles its child transactions.
RUNS_FEATURES = REFERENCE_FEATURES - {"bilateral", "cycles", "limits", "priority_mode", "resubmit"}


@_settings(RUNS_EXAMPLES)
@given(case=cases(RUNS_FEATURES, always=frozenset({"splitting", "deferred"}) & RUNS_FEATURES))
def test_engines_match_simcash_on_split_runs(case: Case) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        compare(case, Path(tmp))


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(case=cases())
def test_engines_match_simcash_many(case: Case) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        compare(case, Path(tmp))


def test_feature_gating_is_consistent() -> None:
    """Every gated feature exists, batch ⊆ reference, and what a feature builds on is gated too."""
    assert set(REFERENCE_FEATURES) <= set(FEATURES)
    assert BATCH_FEATURES <= REFERENCE_FEATURES
    for feature, needs in REQUIRES.items():
        if feature in REFERENCE_FEATURES:
            assert needs <= REFERENCE_FEATURES, feature
        if feature in BATCH_FEATURES:
            assert needs <= BATCH_FEATURES, feature


@pytest.mark.parametrize("feature", sorted(REFERENCE_FEATURES))
def test_each_gated_feature_loads_and_runs(feature: str, tmp_path: Path) -> None:
    """A scenario using only ``feature`` runs on the engines the gating claims (no refusal)."""
    case = build_case(7, n_agents=3, tpd=4, days=2, features=frozenset({feature}), n_payments=12)
    path = write_case(tmp_path, case.scenario, case.policies)
    run_paylab(path, "reference")
    if case.batch_runs:
        run_paylab(path, "batch")


def test_in_process_converter_matches_the_script(tmp_path: Path) -> None:
    """`run_oracle` converts in-process; the result is what ``run_oracle.sh`` prints."""
    case = build_case(3, n_agents=3, tpd=4, days=1, features=REFERENCE_FEATURES, n_payments=15)
    path = write_case(tmp_path, case.scenario, case.policies)
    timing = ("wall_us_first_run", "timing")
    script = {k: v for k, v in oracle_json(path, via_script=True).items() if k not in timing}
    direct = {k: v for k, v in oracle_json(path).items() if k not in timing}
    assert script == direct


def _triangle(
    amounts: tuple[int, int, int], balances: tuple[int, int, int], ring: tuple[int, int, int]
) -> dict[str, Any]:
    ids = ("B0", "B1", "B2")
    return {
        "simulation": {"ticks_per_day": 2, "num_days": 1, "rng_seed": 1},
        "cost_rates": {"delay_cost_per_tick_per_cent": 0.2, "split_friction_cost": 0},
        "lsm_config": {"enable_bilateral": False, "enable_cycles": True, "max_cycle_length": 3},
        "agents": [
            {"id": i, "opening_balance": b, "policy": {"type": "Fifo"}} for i, b in zip(ids, balances, strict=True)
        ],
        "scenario_events": [
            {
                "type": "CustomTransactionArrival",
                "from_agent": ids[ring[k]],
                "to_agent": ids[ring[(k + 1) % 3]],
                "amount": amounts[k],
                "deadline": 1,
                "schedule": {"type": "OneTime", "tick": 0},
            }
            for k in range(3)
        ],
    }


@_settings(15)
@given(
    amounts=st.tuples(*[st.integers(1_000, 1_200)] * 3), balances=st.tuples(*[st.sampled_from((0, 100, 150, 300))] * 3)
)
def test_three_cycle_orientations(amounts: tuple[int, int, int], balances: tuple[int, int, int]) -> None:
    """SimCash finds a 3-bank cycle only as u→v→w→u with u<v<w (sorted ids); paylab settles
    both orientations (docs/engine.md). The difference is exactly that rule: paylab on the ring
    B0→B2→B1→B0 equals SimCash on the same ring with B1 and B2 swapped (the orientation
    SimCash finds), names swapped back; SimCash itself settles nothing on the original."""
    if "cycles" not in REFERENCE_FEATURES:
        pytest.skip("cycles are not gated on yet")
    swap = {"B0": "B0", "B1": "B2", "B2": "B1"}
    with tempfile.TemporaryDirectory() as tmp:
        missed = write_case(Path(tmp) / "missed", _triangle(amounts, balances, (0, 2, 1)), {})
        found = write_case(
            Path(tmp) / "found", _triangle(amounts, (balances[0], balances[2], balances[1]), (0, 1, 2)), {}
        )
        ours = run_paylab(missed)
        simcash_found = run_oracle(found)
        simcash_missed = run_oracle(missed)
    back = tuple(sorted((swap[s], swap[r], a, t, k) for s, r, a, t, k in simcash_found.payments))
    assert ours.payments == back
    assert ours.costs == {swap[a]: c for a, c in simcash_found.costs.items()}
    assert simcash_missed.lsm["cycles"] == 0
    if simcash_found.lsm["cycles"]:
        event("the ring settled as a cycle")
        assert all(k == -1 for *_, k in simcash_missed.payments)


def test_a_missing_oracle_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The skip reason names the missing file (what a user's own clone without
    ``../shared/oracle/`` sees instead of a failure)."""
    from tests.runner.engine import oracle

    monkeypatch.setattr(oracle, "ORACLE_BIN", tmp_path / "simcash-oracle")
    reason = oracle.oracle_missing()
    assert reason is not None and str(tmp_path / "simcash-oracle") in reason and "absent" in reason
