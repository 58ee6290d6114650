"""Accept or reject a proposal from its paired deltas (old − new cost, per sample).

One rule object is chosen from the config, once: `MeanRule` (mean delta > 0), `CIRule` (the
lower end of the t confidence interval of the mean delta > 0 — an interval of the *deltas*,
not of the costs) or `AlwaysRule`. An optional settlement floor rejects a candidate whose
mean settlement rate falls below it. Ties reject. Every decision carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from runner.experiment.config import AcceptanceConfig
from runner.experiment.stats import mean_ci


@dataclass(frozen=True)
class Decision:
    """The verdict on one proposal, with the statistics it rests on (cents)."""

    accepted: bool
    reason: str
    n: int
    mean_delta: float
    std_delta: float
    ci_low: float
    ci_high: float
    old_mean: float
    new_mean: float
    new_settlement: float


class AcceptanceRule(Protocol):
    def decide(
        self, deltas: np.ndarray, old_costs: np.ndarray, new_costs: np.ndarray, new_settlement: np.ndarray
    ) -> Decision: ...


@dataclass(frozen=True)
class _Rule:
    confidence: float
    settlement_floor: float | None
    max_cv: float | None

    def decide(
        self, deltas: np.ndarray, old_costs: np.ndarray, new_costs: np.ndarray, new_settlement: np.ndarray
    ) -> Decision:
        mean, sd, lo, hi = mean_ci(deltas, self.confidence)
        settle = float(np.mean(new_settlement)) if new_settlement.size else 1.0
        ok, why = self.verdict(mean, lo, deltas.size)
        if ok and self.settlement_floor is not None and settle < self.settlement_floor:
            ok, why = False, f"settlement rate {settle:.3f} below floor {self.settlement_floor:.3f}"
        if ok and self.max_cv is not None:
            new_mean = float(np.mean(new_costs))
            cv = float(np.std(new_costs, ddof=1)) / new_mean if new_costs.size > 1 and new_mean > 0 else 0.0
            if cv > self.max_cv:
                ok, why = False, f"cost CV {cv:.3f} above {self.max_cv:.3f}"
        return Decision(
            ok, why, int(deltas.size), mean, sd, lo, hi, float(np.mean(old_costs)), float(np.mean(new_costs)), settle
        )

    def verdict(self, mean: float, lo: float, n: int) -> tuple[bool, str]:
        raise NotImplementedError


class MeanRule(_Rule):
    def verdict(self, mean: float, lo: float, n: int) -> tuple[bool, str]:
        if mean > 0:
            return True, f"mean delta {mean:+.1f} > 0"
        return False, f"mean delta {mean:+.1f} <= 0"


class CIRule(_Rule):
    def verdict(self, mean: float, lo: float, n: int) -> tuple[bool, str]:
        level = f"{self.confidence:.0%} CI"
        if n < 2:  # one sample has no spread: the interval is the point itself
            return (mean > 0, f"single sample: delta {mean:+.1f} {'>' if mean > 0 else '<='} 0")
        if lo > 0:
            return True, f"{level} lower bound {lo:+.1f} > 0"
        return False, f"{level} lower bound {lo:+.1f} <= 0"


class AlwaysRule(_Rule):
    def verdict(self, mean: float, lo: float, n: int) -> tuple[bool, str]:
        return True, "always accept"


def make_rule(cfg: AcceptanceConfig, temporal: bool = False) -> AcceptanceRule:
    """The acceptance rule of an experiment (temporal mode always adopts valid proposals)."""
    kinds: dict[str, type[_Rule]] = {"mean": MeanRule, "ci": CIRule, "always": AlwaysRule}
    kind = AlwaysRule if temporal else kinds[cfg.effective_rule]
    return kind(cfg.confidence, cfg.settlement_floor, cfg.max_coefficient_of_variation)
