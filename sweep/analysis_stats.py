"""The statistics of `paylab analyze`: the runs table's rows grouped, one `GroupSummary` each.

Per group: runs (done/failed), mean ± sd and a 95 % t interval of the final total cost, the
change vs the baseline cell paired per replicate, settlement rate, iterations to stop, stop
reasons, acceptance rate, LLM calls/tokens/spend, and a rank (1 = cheapest mean final cost).
Only ``done`` runs enter the outcome statistics; failed runs are counted and listed, and their
LLM use still counts (it was spent). Pure functions over rows (no store, no formatting), used
by the analysis table (`sweep.analysis`) and the sweep figures (`sweep.plots.sweep_frames`).
The Student-t quantile is the experiment loop's own (`runner.experiment.stats.t_quantile`), so
acceptance, this table and the plots share one.
"""

from __future__ import annotations

import json
import math
import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.errors import ConfigError
from runner.experiment.stats import t_quantile
from runner.experiment.status import RunStatus

Row = dict[str, Any]
BASELINE_MODELS = frozenset({"builtin/none"})
MODEL_KEYS = frozenset({"model", "llm.model", "param_llm__model"})
# (sweep, scenario, replicate) → [(experiment, parameters, final cost in cents)] of done baselines
Baselines = dict[tuple[Any, ...], list[tuple[Any, dict[str, Any], float]]]
Proposals = dict[tuple[str, str], tuple[int, int]]  # (sweep, run_id) → (proposals, accepted)


@dataclass
class GroupSummary:
    """One output row. Money in cents except ``llm_cost_usd``; rates are fractions."""

    key: tuple[Any, ...]
    runs: int = 0
    done: int = 0
    failed: int = 0
    final_cost_mean: float | None = None  # this and the rest: done runs only
    final_cost_sd: float | None = None
    final_cost_ci_low: float | None = None  # 95 % Student t
    final_cost_ci_high: float | None = None
    is_baseline: bool = False
    pairs: int = 0  # runs paired with a baseline run of the same replicate
    delta_mean: float | None = None  # mean of paired (run − baseline) final costs
    delta_pct: float | None = None  # delta_mean / mean paired baseline cost × 100
    delta_ci_low: float | None = None  # 95 % Student t over the paired differences
    delta_ci_high: float | None = None
    settlement_rate: float | None = None
    iterations: float | None = None
    stop_reasons: dict[str, int] = field(default_factory=dict)
    proposals: int = 0
    accepted: int = 0
    llm_calls: int = 0  # this and the LLM figures below: every run, failed ones included
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_cost_usd: float = 0.0
    rank: int | None = None
    failed_runs: list[tuple[str, str]] = field(default_factory=list)  # (run_id, error line)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.proposals if self.proposals else None


def summarize(runs: list[Row], by: Sequence[str], proposals: Proposals) -> list[GroupSummary]:
    """Group summaries sorted by group key, ranks filled in.

    Args:
        runs: rows of the runs table (one per run).
        by: grouping names, as for `sweep.analysis.analyze_results`.
        proposals: (sweep, run_id) → (proposals, accepted).
    """
    getters = [resolve_key(runs, name) for name in by]
    members: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in runs:
        members[tuple(get(row) for get in getters)].append(row)
    baselines = baseline_index(runs)
    groups = [
        _summarize_group(key, rows, baselines, proposals)
        for key, rows in sorted(members.items(), key=lambda kv: _sort_key(kv[0]))
    ]
    # models compete within a partition: the other grouping keys (by default, the scenario)
    within = (
        [n for n in by if n not in MODEL_KEYS]
        if MODEL_KEYS & set(by)
        else [n for n in by if n in ("sweep", "scenario")]
    )
    _assign_ranks(groups, [list(by).index(n) for n in within])
    return groups


# -- grouping ---------------------------------------------------------------------------------
def resolve_key(runs: list[Row], name: str) -> Callable[[Row], Any]:
    """A value getter for a ``by`` name: a column, its ``param_`` column, or a params_json key."""
    # list/struct columns (agent_costs) cannot key a group
    nested = {c for row in runs for c, v in row.items() if isinstance(v, list | dict)}
    columns = [c for c in runs[0] if c not in nested]
    for column in (name, "param_" + name.replace(".", "__")):
        if column in columns:
            return operator.itemgetter(column)  # every row has every column of the table
    if any(name in _params(row) for row in runs):
        return lambda row: _params(row).get(name)
    choices = sorted(c for c in columns if not c.startswith("param_")) + sorted(
        c[6:].replace("__", ".") for c in columns if c.startswith("param_")
    )
    raise ConfigError(f"unknown column {name!r}; choose from {', '.join(choices)}", path="--by")


def _params(row: Row) -> dict[str, Any]:
    value = json.loads(row.get("params_json") or "{}")
    return value if isinstance(value, dict) else {}


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[int, str, Any], ...]:
    # (is-null, type name, value): mixed or null parameter values still sort deterministically
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in key)


# -- baseline pairing -------------------------------------------------------------------------
def is_baseline(row: Row) -> bool:
    """The no-optimisation cell: ``baseline`` is true or the model is ``builtin/none``."""
    return bool(row.get("baseline")) or row.get("model") in BASELINE_MODELS


def is_done(row: Row) -> bool:
    return row.get("status") == RunStatus.DONE and row.get("final_total_cost") is not None


def _pair_params(row: Row) -> dict[str, Any]:
    """The parameters a baseline must share: every varied one but the model (`sweep.expand`
    adds one baseline cell per distinct point of the other axes)."""
    return {k: v for k, v in row.items() if k.startswith("param_") and k != "param_llm__model"}


def baseline_index(runs: Iterable[Row]) -> Baselines:
    index: Baselines = defaultdict(list)
    for row in runs:
        if is_baseline(row) and is_done(row):
            key = (row.get("sweep"), row.get("scenario"), row.get("replicate"))
            cost = float(row["final_total_cost"])
            index[key].append((row.get("experiment"), _pair_params(row), cost))
    return index


def baseline_cost(row: Row, baselines: Baselines) -> float | None:
    """The final cost of ``row``'s baseline cell of the same replicate, None if there is none.

    A baseline matches when each parameter it has set equals the run's (a parameter that does
    not apply to a no-optimisation cell may be left null); the most specific match wins, the
    same experiment file first. Ties (should not happen) are averaged.
    """
    params = _pair_params(row)
    candidates = baselines.get((row.get("sweep"), row.get("scenario"), row.get("replicate")), [])
    scored = [
        ((exp == row.get("experiment"), sum(v is not None for v in bp.values())), cost)
        for exp, bp, cost in candidates
        if all(v is None or params.get(k) == v for k, v in bp.items())
    ]
    if not scored:
        return None
    best = max(score for score, _ in scored)
    costs = [cost for score, cost in scored if score == best]
    return sum(costs) / len(costs)


def _paired(group: GroupSummary, rows: list[Row], baselines: Baselines) -> None:
    """Sets the group's pairs, mean of run − baseline with its 95 % CI over the replicates,
    and that mean as % of the mean paired baseline."""
    pairs = [
        (float(r["final_total_cost"]), base)
        for r in rows
        if not is_baseline(r) and (base := baseline_cost(r, baselines)) is not None
    ]
    if not pairs:
        return
    group.pairs = len(pairs)
    group.delta_mean, _, group.delta_ci_low, group.delta_ci_high = cost_stats([run - base for run, base in pairs])
    mean_base = sum(base for _, base in pairs) / len(pairs)
    # ratio of means, not mean of ratios: stable when one replicate's baseline is tiny
    group.delta_pct = 100.0 * group.delta_mean / mean_base if mean_base and group.delta_mean is not None else None


# -- statistics -------------------------------------------------------------------------------
def _summarize_group(key: tuple[Any, ...], rows: list[Row], baselines: Baselines, proposals: Proposals) -> GroupSummary:
    done = [r for r in rows if is_done(r)]
    g = GroupSummary(
        key=key,
        runs=len(rows),
        done=len(done),
        failed=sum(r.get("status") == RunStatus.FAILED for r in rows),
        is_baseline=all(is_baseline(r) for r in rows),
    )
    g.failed_runs = sorted(
        (str(r["run_id"]), (str(r.get("error") or "").strip() + "\n").split("\n")[0])
        for r in rows
        if r.get("status") == RunStatus.FAILED
    )
    g.final_cost_mean, g.final_cost_sd, g.final_cost_ci_low, g.final_cost_ci_high = cost_stats(
        [float(r["final_total_cost"]) for r in done]
    )
    _paired(g, done, baselines)
    g.settlement_rate = _mean(r.get("final_settlement_rate") for r in done)
    g.iterations = _mean(r.get("iterations") for r in done)
    reasons = Counter(str(r["stop_reason"]) for r in done if r.get("stop_reason"))
    g.stop_reasons = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    for row in done:
        counted, accepted = proposals.get((str(row["sweep"]), str(row["run_id"])), (0, 0))
        g.proposals, g.accepted = g.proposals + counted, g.accepted + accepted
    g.llm_calls = sum(int(r.get("llm_calls") or 0) for r in rows)
    g.llm_prompt_tokens = sum(int(r.get("llm_prompt_tokens") or 0) for r in rows)
    g.llm_completion_tokens = sum(int(r.get("llm_completion_tokens") or 0) for r in rows)
    g.llm_cost_usd = sum(float(r.get("llm_cost_usd") or 0.0) for r in rows)
    return g


def cost_stats(values: Sequence[float]) -> tuple[float | None, ...]:
    """(mean, sample sd, 95 % t-interval low, high) of ``values``; sd and CI need n ≥ 2."""
    n = len(values)
    mean = sum(values) / n if n else None
    if mean is None or n == 1:
        return mean, None, None, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def _mean(values: Iterable[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _assign_ranks(groups: list[GroupSummary], within: list[int]) -> None:
    """Rank = 1 + groups of the same partition (key positions ``within``) with a lower mean."""
    partitions: dict[tuple[Any, ...], list[GroupSummary]] = defaultdict(list)
    for group in groups:
        partitions[tuple(group.key[i] for i in within)].append(group)
    for members in partitions.values():
        means = [g.final_cost_mean for g in members if g.final_cost_mean is not None]
        for group in members:
            mean = group.final_cost_mean
            group.rank = None if mean is None else 1 + sum(m < mean for m in means)
