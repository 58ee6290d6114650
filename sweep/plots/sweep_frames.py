"""The data of a sweep's figures: final cost vs baseline per group, settlement, stop reasons.

Groups, their means, 95 % Student-t intervals and baseline pairing are `paylab analyze`'s own
(`sweep.analysis_stats.summarize`, `baseline_cost`): a figure and the analysis table never disagree.
One row per run in the ``points`` frames (every replicate is a point), one per group in
``groups``. Only done runs carry outcomes; failed runs are counted, never plotted as costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from sweep.analysis_stats import baseline_cost, baseline_index, is_baseline, is_done, resolve_key, summarize

Row = dict[str, Any]

POINTS = pa.schema(
    [
        ("group", pa.string()),
        ("run_id", pa.string()),
        ("replicate", pa.int32()),
        ("status", pa.string()),
        ("final_total_cost", pa.int64()),
        ("baseline_cost", pa.float64()),
        ("final_settlement_rate", pa.float64()),
        ("iterations", pa.int32()),
        ("stop_reason", pa.string()),
    ]
)
GROUPS = pa.schema(
    [
        ("group", pa.string()),
        ("runs", pa.int32()),
        ("done", pa.int32()),
        ("failed", pa.int32()),
        ("is_baseline", pa.bool_()),
        ("mean", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("baseline_mean", pa.float64()),
        ("delta_mean", pa.float64()),
        ("delta_pct", pa.float64()),
        ("settlement_rate", pa.float64()),
        ("iterations", pa.float64()),
    ]
)


def group_label(key: Sequence[Any]) -> str:
    """A group key as one label: ``exp1 · builtin/coordinate`` (None shows as —)."""
    return " · ".join("—" if v is None else str(v) for v in key)


def check_by(runs: list[Row], by: Sequence[str]) -> None:
    """Raise the analysis's one-line `ConfigError` for an unknown ``--by`` column."""
    for name in by:
        resolve_key(runs, name)


def sweep_frames(
    runs: list[Row], by: Sequence[str], proposals: dict[tuple[str, str], tuple[int, int]]
) -> dict[str, Any]:
    """``{"points": …, "groups": …}`` for one sweep's runs grouped by ``by``.

    Args:
        runs: the sweep's runs rows (failed ones included).
        by: grouping columns as `paylab analyze --by` takes them.
        proposals: (sweep, run_id) → (proposals, accepted), for the analysis summary.
    """
    getters = [resolve_key(runs, name) for name in by]
    baselines = baseline_index(runs)
    points = []
    for row in runs:
        done = is_done(row)
        base = baseline_cost(row, baselines) if done and not is_baseline(row) else None
        points.append(
            {
                "group": group_label([get(row) for get in getters]),
                "run_id": row["run_id"],
                "replicate": row.get("replicate"),
                "status": row.get("status"),
                "final_total_cost": row.get("final_total_cost") if done else None,
                "baseline_cost": base,
                "final_settlement_rate": row.get("final_settlement_rate") if done else None,
                "iterations": row.get("iterations") if done else None,
                "stop_reason": row.get("stop_reason") if done else None,
            }
        )
    groups = []
    for g in summarize(runs, by, proposals):
        label = group_label(g.key)
        paired = [p["baseline_cost"] for p in points if p["group"] == label and p["baseline_cost"] is not None]
        groups.append(
            {
                "group": label,
                "runs": g.runs,
                "done": g.done,
                "failed": g.failed,
                "is_baseline": g.is_baseline,
                "mean": g.final_cost_mean,
                "ci_low": g.final_cost_ci_low,
                "ci_high": g.final_cost_ci_high,
                "baseline_mean": sum(paired) / len(paired) if paired else None,
                "delta_mean": g.delta_mean,
                "delta_pct": g.delta_pct,
                "settlement_rate": g.settlement_rate,
                "iterations": g.iterations,
            }
        )
    order = {g["group"]: k for k, g in enumerate(groups)}
    points.sort(key=lambda p: (order[p["group"]], p["run_id"]))
    return {
        "points": pa.Table.from_pylist(points, schema=POINTS),
        "groups": pa.Table.from_pylist(groups, schema=GROUPS),
    }
