"""The data of one run's figures: cost per iteration, decisions with their CIs, parameters.

Each function takes that run's rows of a stored table (`pyarrow.Table`, as
`sweep.plots.source.SweepTables.for_run` returns them) and returns a small `pyarrow.Table`,
one row per plotted point, in cents as stored (the drawing turns them into dollars).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import pyarrow as pa

TOTAL = "total"  # the series name of the all-agents sum

COSTS = pa.schema([("iteration", pa.int32()), ("series", pa.string()), ("cost", pa.int64())])
BASELINES = pa.schema([("series", pa.string()), ("cost", pa.int64())])
DECISIONS = pa.schema(
    [
        ("iteration", pa.int32()),
        ("agent", pa.string()),
        ("outcome", pa.string()),
        ("valid", pa.bool_()),
        ("accepted", pa.bool_()),
        ("mean_delta", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("n_samples", pa.int32()),
        ("old_mean_cost", pa.int64()),
        ("new_mean_cost", pa.int64()),
        ("reason", pa.string()),
        ("marker_cost", pa.int64()),
    ]
)
PARAMETERS = pa.schema(
    [("iteration", pa.int32()), ("agent", pa.string()), ("parameter", pa.string()), ("value", pa.float64())]
)


def cost_frame(iterations: Any) -> Any:
    """Reference-set cost per iteration: one row per (iteration, agent) and per iteration total.

    Args:
        iterations: the run's rows of the ``iterations`` table.
    """
    totals: dict[int, int] = defaultdict(int)
    rows = []
    for r in iterations.select(["iteration", "agent", "reference_cost"]).to_pylist():
        if r["reference_cost"] is None:
            continue
        rows.append({"iteration": r["iteration"], "series": r["agent"], "cost": r["reference_cost"]})
        totals[r["iteration"]] += r["reference_cost"]
    rows += [{"iteration": it, "series": TOTAL, "cost": cost} for it, cost in totals.items()]
    rows.sort(key=lambda r: (r["series"] != TOTAL, r["series"], r["iteration"]))
    return pa.Table.from_pylist(rows, schema=COSTS)


def baseline_frame(run: dict[str, Any], costs: Any) -> Any:
    """The run's baseline: its starting policies' reference cost, per agent and in total.

    From the runs row (``baseline_total_cost``, ``agent_costs``) when the run finished, else
    from iteration 0 of ``costs`` (a failed or unfinished run has no outcome columns).
    """
    rows = []
    if run.get("baseline_total_cost") is not None:
        rows.append({"series": TOTAL, "cost": run["baseline_total_cost"]})
        rows += [{"series": a["agent"], "cost": a["baseline"]} for a in run.get("agent_costs") or []]
    else:
        rows = [{"series": r["series"], "cost": r["cost"]} for r in costs.to_pylist() if r["iteration"] == 0]
    rows.sort(key=lambda r: (r["series"] != TOTAL, r["series"]))
    return pa.Table.from_pylist(rows, schema=BASELINES)


def outcome(row: dict[str, Any]) -> str:
    """accepted, rejected (a valid proposal that lost the paired test or could not run), invalid."""
    if row.get("accepted"):
        return "accepted"
    return "rejected" if row.get("valid") else "invalid"


def decision_frame(proposals: Any, costs: Any) -> Any:
    """One row per proposal: outcome, paired delta (old − new, cents) and its CI, and where its
    marker sits on the cost chart (the agent's reference cost after that iteration)."""
    at = {(r["iteration"], r["series"]): r["cost"] for r in costs.to_pylist()}
    rows = []
    for r in proposals.to_pylist():
        rows.append(
            {
                **{k: r.get(k) for k in DECISIONS.names if k in r},
                "outcome": outcome(r),
                "marker_cost": at.get((r["iteration"], r["agent"])),
            }
        )
    return pa.Table.from_pylist(rows, schema=DECISIONS)


def parameter_frame(iterations: Any) -> Any:
    """Each agent's numeric policy parameters per iteration (what the policy held then)."""
    rows = []
    for r in iterations.select(["iteration", "agent", "parameters_json"]).to_pylist():
        params = json.loads(r["parameters_json"] or "{}")
        for name, value in sorted(params.items() if isinstance(params, dict) else ()):
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                rows.append(
                    {"iteration": r["iteration"], "agent": r["agent"], "parameter": name, "value": float(value)}
                )
    rows.sort(key=lambda r: (r["parameter"], r["agent"], r["iteration"]))
    return pa.Table.from_pylist(rows, schema=PARAMETERS)
