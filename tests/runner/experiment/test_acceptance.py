"""Acceptance rules on paired deltas (`runner/experiment/acceptance.py`) and the Student-t helpers."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from runner.experiment.acceptance import Decision, make_rule
from runner.experiment.config import AcceptanceConfig
from runner.experiment.display import VerboseLogger
from runner.experiment.stats import mean_ci, t_cdf, t_quantile
from tests.runner.experiment.support import (
    EXP1,
    EXP2,
    SMALL_EXP2,
    RecordingSink,
    ScriptedProposer,
    config,
    of_type,
    run,
)


def decide(
    deltas: list[float],
    *,
    rule: str = "mean",
    old: list[float] | None = None,
    settlement: list[float] | None = None,
    temporal: bool = False,
    **cfg: object,
) -> Decision:
    d = np.asarray(deltas, dtype=np.int64)
    old_costs = np.asarray(old if old is not None else [100_000] * d.size, dtype=np.int64)
    new_costs = old_costs - d
    settle = np.asarray(settlement if settlement is not None else [1.0] * d.size)
    acc = AcceptanceConfig(rule=rule, **cfg)  # type: ignore[arg-type]
    return make_rule(acc, temporal=temporal).decide(d, old_costs, new_costs, settle)


# a cheaper candidate on average whose saving is not reliable: mean +18, wide spread
NOISY = [100, -80, 90, -70, 50]


# ------------------------------------------------------------------ mean rule
def test_mean_rule_accepts_a_positive_mean_delta() -> None:
    d = decide([10, -4, 3])
    assert d.accepted and d.mean_delta == 3.0 and d.n == 3
    assert d.reason == "mean delta +3.0 > 0"
    assert (d.old_mean, d.new_mean) == (100_000.0, 99_997.0)


def test_mean_rule_rejects_worse_and_ties() -> None:
    worse = decide([-10, 4, 3])
    assert not worse.accepted and worse.reason == "mean delta -1.0 <= 0"
    tie = decide([5, -5, 0])
    assert not tie.accepted and tie.mean_delta == 0.0 and "<= 0" in tie.reason


# ------------------------------------------------------------------ ci rule
def test_ci_rule_uses_the_t_interval_of_the_deltas() -> None:
    deltas = [120, 80, 100, 95, 105, 110, 90]
    d = decide(deltas, rule="ci")
    x = np.asarray(deltas, dtype=float)
    half = t_quantile(0.975, 6) * x.std(ddof=1) / math.sqrt(7)
    assert d.accepted
    assert d.ci_low == pytest.approx(x.mean() - half) and d.ci_high == pytest.approx(x.mean() + half)
    assert d.std_delta == pytest.approx(x.std(ddof=1))
    assert d.reason.startswith("95% CI lower bound +") and d.reason.endswith("> 0")


def test_ci_rejects_a_positive_mean_whose_lower_bound_is_negative() -> None:
    ci, mean = decide(NOISY, rule="ci"), decide(NOISY, rule="mean")
    assert ci.mean_delta == mean.mean_delta == 18.0
    assert ci.ci_low < 0 < ci.mean_delta
    assert not ci.accepted and ci.reason.startswith("95% CI lower bound -")
    assert mean.accepted


def test_ci_is_of_the_deltas_not_of_the_costs() -> None:
    # costs range over three orders of magnitude, but the candidate saves exactly 10 cents on
    # every sample: an interval of the costs overlaps completely, the paired one does not.
    old = [1_000, 50_000, 200_000, 7_000, 999_000]
    d = decide([10] * 5, rule="ci", old=old)
    assert d.accepted and d.ci_low == d.ci_high == 10.0 and d.std_delta == 0.0
    # and the same costs with a noisy pairing are rejected, although the means match
    noisy = decide([60, -40, 10, 40, -20], rule="ci", old=old)
    assert noisy.mean_delta == 10.0 and not noisy.accepted


def test_ci_confidence_sets_the_width() -> None:
    deltas = [30, -5, 20, 12, 8, -2, 25]
    narrow, wide = decide(deltas, rule="ci", confidence=0.8), decide(deltas, rule="ci", confidence=0.99)
    assert narrow.ci_low > wide.ci_low and narrow.ci_high < wide.ci_high
    assert narrow.accepted and not wide.accepted
    assert narrow.reason.startswith("80% CI") and wide.reason.startswith("99% CI")


def test_ci_ties_reject() -> None:
    assert not decide([0, 0, 0, 0], rule="ci").accepted
    assert not decide([0], rule="ci").accepted


def test_single_sample_ci_is_the_point() -> None:
    up, down = decide([250], rule="ci"), decide([-250], rule="ci")
    assert up.accepted and (up.ci_low, up.ci_high, up.std_delta) == (250.0, 250.0, 0.0)
    assert up.reason == "single sample: delta +250.0 > 0"
    assert not down.accepted and down.reason == "single sample: delta -250.0 <= 0"


# ------------------------------------------------------------------ always, temporal
def test_always_accepts_even_a_worse_candidate() -> None:
    d = decide([-500, -10], rule="always")
    assert d.accepted and d.reason == "always accept" and d.mean_delta == -255.0


def test_temporal_mode_always_adopts() -> None:
    d = decide([-500], rule="mean", temporal=True)
    assert d.accepted and d.reason == "always accept"


# ------------------------------------------------------------------ settlement floor, CV
@pytest.mark.parametrize("rule", ["mean", "ci", "always"])
def test_settlement_floor_rejects(rule: str) -> None:
    deltas = [100, 110, 90]
    below = decide(deltas, rule=rule, settlement=[0.9, 0.8, 0.85], settlement_floor=0.9)
    assert not below.accepted
    assert below.reason == "settlement rate 0.850 below floor 0.900"
    assert below.new_settlement == pytest.approx(0.85)
    at = decide(deltas, rule=rule, settlement=[0.9, 0.9, 0.9], settlement_floor=0.9)
    assert at.accepted  # at the floor is not below it


def test_settlement_floor_does_not_rescue_a_rejection() -> None:
    d = decide([-1, -2], settlement=[0.1, 0.1], settlement_floor=0.9)
    assert not d.accepted and d.reason.startswith("mean delta")


def test_require_statistical_significance_maps_to_ci() -> None:
    acc = AcceptanceConfig(rule="mean", require_statistical_significance=True)
    assert acc.effective_rule == "ci"
    assert not decide(NOISY, rule="mean", require_statistical_significance=True).accepted
    assert AcceptanceConfig(require_statistical_significance=False).effective_rule == "mean"
    assert decide(NOISY, rule="mean", require_statistical_significance=False).accepted
    # the SimCash key is accepted in an experiment file
    cfg = config(EXP1, "evaluation.acceptance.require_statistical_significance=true")
    assert cfg.evaluation.acceptance.effective_rule == "ci"


def test_max_coefficient_of_variation() -> None:
    old = [10_000, 10_000, 10_000, 10_000]
    # new costs 2 000, 2 000, 2 000, 9 000: cheaper on average, CV ≈ 0.85
    spread = decide([8_000, 8_000, 8_000, 1_000], old=old, max_coefficient_of_variation=0.5)
    assert not spread.accepted and spread.reason.startswith("cost CV 0.")
    assert "above 0.500" in spread.reason
    steady = decide([8_000, 8_000, 8_000, 7_900], old=old, max_coefficient_of_variation=0.5)
    assert steady.accepted
    assert decide([8_000, 8_000, 8_000, 1_000], old=old).accepted  # no gate without the key


@pytest.mark.parametrize(
    "bad",
    [
        {"confidence": 1.0},
        {"confidence": 0.5},
        {"settlement_floor": 1.5},
        {"max_coefficient_of_variation": 0},
        {"rule": "median"},
    ],
)
def test_acceptance_config_is_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AcceptanceConfig(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ t quantiles
@pytest.mark.parametrize(
    ("p", "df", "expected", "tol"),
    [
        (0.975, 49, 2.0096, 1e-4),
        (0.975, 1, 12.7062, 1e-3),
        (0.975, 2, 4.3027, 1e-4),
        (0.975, 9, 2.2622, 1e-4),
        (0.95, 10, 1.8125, 1e-4),
        (0.995, 30, 2.7500, 1e-4),
        (0.975, 1_000_000, 1.95996, 1e-4),
        (0.025, 5, -2.5706, 1e-4),
        (0.5, 7, 0.0, 1e-6),  # near the median the CDF loses t² below 1e-16: ~2e-8 off
    ],
)
def test_t_quantile_known_values(p: float, df: float, expected: float, tol: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, abs=tol)


def test_t_cdf_inverts_the_quantile() -> None:
    for df in (1, 3, 12, 200):
        for p in (0.6, 0.9, 0.975, 0.999):
            assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-9)
    assert t_cdf(0.0, 5) == pytest.approx(0.5)
    assert t_cdf(-2.0, 4) == pytest.approx(1 - t_cdf(2.0, 4))


def test_mean_ci_known_interval() -> None:
    mean, sd, lo, hi = mean_ci(np.array([1, 2, 3, 4, 5]), 0.95)
    assert mean == 3.0 and sd == pytest.approx(1.5811388)
    assert (lo, hi) == pytest.approx((3 - 1.9632, 3 + 1.9632), abs=1e-4)
    assert mean_ci(np.array([7]), 0.95) == (7.0, 0.0, 7.0, 7.0)


def test_a_run_reports_the_configured_confidence() -> None:
    out, sink = io.StringIO(), RecordingSink()
    cfg = config(EXP2, *SMALL_EXP2, "convergence.max_iterations=1", "evaluation.acceptance.confidence=0.9")
    run(cfg, ScriptedProposer.fractions({"BANK_A": [0.2], "BANK_B": [0.1]}), sinks=[sink, VerboseLogger(stream=out)])
    b = of_type(sink.events, "decision", "BANK_B")[0].payload
    assert b.confidence == 0.9 and b.reason.startswith("90% CI lower bound")
    x = np.asarray(b.deltas, dtype=float)
    half = t_quantile(0.95, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    assert b.ci_low == pytest.approx(x.mean() - half)
    assert " 90%CI [" in out.getvalue() and "95%CI" not in out.getvalue()
