"""Every run's figures show exactly its stored rows: costs, baselines, decisions, CIs, parameters.

For each run of both fixture sweeps (done, failed, one iteration, three iterations, offline and
LLM proposers) the expectations are computed straight from `ResultStore.read` of that run —
not through the frame functions — and compared with the frames and with the data of the
matplotlib artists (line x/y data, marker offsets, CI segments). Each image is non-blank.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from sweep.plots.figures import DrawnFigure, run_figures
from sweep.plots.source import SweepTables
from sweep.store import open_store
from tests.sweep.plots.conftest import MIXED, PLAIN
from tests.sweep.plots.helpers import assert_not_blank, dollars, line_xy, points, segments

Runs = list[tuple[Any, SweepTables, str, list[DrawnFigure]]]


def _all_runs(out: Path, sweep: str) -> Runs:
    store = open_store(str(out))
    tables = SweepTables(store, sweep, str(out))
    return [(store, tables, run_id, run_figures(tables, run_id)) for run_id in tables.run_ids()]


@pytest.fixture(scope="module")
def every_run(mixed_out: Path, plain_out: Path) -> Runs:
    """(store, tables, run id, its figures) of every run of both sweeps, drawn once."""
    runs = _all_runs(mixed_out, MIXED) + _all_runs(plain_out, PLAIN)
    statuses = {t.run(r)["status"] for _, t, r, _ in runs}
    iterations = {t.run(r).get("iterations") for _, t, r, _ in runs}
    assert {"done", "failed"} <= statuses and 1 in iterations  # the cases this module is about
    return runs


def _expected_costs(store: Any, sweep: str, run_id: str) -> dict[str, dict[int, int]]:
    series: dict[str, dict[int, int]] = defaultdict(dict)
    for row in store.read("iterations", sweep=sweep, run_id=run_id).to_pylist():
        series[row["agent"]][row["iteration"]] = row["reference_cost"]
        series["total"][row["iteration"]] = series["total"].get(row["iteration"], 0) + row["reference_cost"]
    return series


def test_cost_lines_are_the_stored_reference_costs(every_run: Runs) -> None:
    for store, tables, run_id, figures in every_run:
        want = _expected_costs(store, tables.sweep, run_id)
        figure = figures[0]
        frame = figure.frames["costs"].to_pylist()
        assert {(r["series"], r["iteration"]): r["cost"] for r in frame} == {
            (s, it): c for s, per in want.items() for it, c in per.items()
        }
        for name, per in want.items():
            xs, ys = line_xy(figure.figure, f"cost:{name}")
            assert xs == sorted(per) and ys == [dollars(per[it]) for it in sorted(per)], (run_id, name)
        assert_not_blank(figure.figure)


def test_baselines_are_the_runs_table_or_iteration_zero(every_run: Runs) -> None:
    for store, tables, run_id, figures in every_run:
        run = tables.run(run_id)
        figure = figures[0]
        if run["status"] == "done":
            want = {"total": run["baseline_total_cost"]} | {a["agent"]: a["baseline"] for a in run["agent_costs"]}
        else:  # a failed run has no outcome columns: its iteration 0
            want = {s: per[0] for s, per in _expected_costs(store, tables.sweep, run_id).items() if 0 in per}
        assert want, run_id
        for name, cents in want.items():
            _, ys = line_xy(figure.figure, f"baseline:{name}")
            assert ys == [dollars(cents)] * 2, (run_id, name)
        if run["status"] == "done":  # the stored baseline is iteration 0 of the reference set
            assert want["total"] == _expected_costs(store, tables.sweep, run_id)["total"][0]


def test_decisions_are_marked_with_their_outcome_and_ci(every_run: Runs) -> None:
    seen: set[str] = set()
    for store, tables, run_id, figures in every_run:
        proposals = store.read("proposals", sweep=tables.sweep, run_id=run_id).to_pylist()
        costs = _expected_costs(store, tables.sweep, run_id)
        figure = figures[0]
        fig = figure.figure
        by_outcome: dict[str, list[tuple[float, float]]] = defaultdict(list)
        tested: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in proposals:
            kind = "accepted" if p["accepted"] else "rejected" if p["valid"] else "invalid"
            seen.add(kind)
            if p["iteration"] in costs.get(p["agent"], {}):
                by_outcome[kind].append((float(p["iteration"]), dollars(costs[p["agent"]][p["iteration"]])))
            if p["mean_delta"] is not None and p["n_samples"]:
                tested[p["agent"]].append(p)
        for kind, want in by_outcome.items():
            assert points(fig, f"decision:{kind}") == want, (run_id, kind)
        assert {str(a.get_gid()) for a in fig.findobj(lambda a: str(a.get_gid() or "").startswith("decision:"))} == {
            f"decision:{k}" for k in by_outcome
        }
        for agent, rows in tested.items():
            xs, ys = line_xy(fig, f"delta:{agent}")
            assert ys == [dollars(p["mean_delta"]) for p in rows]
            assert [round(x) for x in xs] == [p["iteration"] for p in rows]  # offset per agent
            ci = segments(fig, f"ci:{agent}")
            assert [v for _, lo, hi in ci for v in (lo, hi)] == pytest.approx(
                [dollars(v) for p in rows for v in (p["ci_low"], p["ci_high"])]
            )
            assert all(lo <= y <= hi for (_, lo, hi), y in zip(ci, ys, strict=True))
        frame = figure.frames["decisions"].to_pylist()
        assert [(r["iteration"], r["agent"], r["accepted"], r["reason"]) for r in frame] == [
            (p["iteration"], p["agent"], p["accepted"], p["reason"]) for p in proposals
        ]
    assert seen == {"accepted", "rejected", "invalid"}  # every outcome occurs in the fixtures


def test_parameter_lines_are_the_stored_policy_parameters(every_run: Runs) -> None:
    drawn = 0
    for store, tables, run_id, figures in every_run:
        want: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        for row in store.read("iterations", sweep=tables.sweep, run_id=run_id).to_pylist():
            for name, value in json.loads(row["parameters_json"]).items():
                want[(name, row["agent"])][row["iteration"]] = float(value)
        figure = figures[1]
        for (name, agent), per in want.items():
            xs, ys = line_xy(figure.figure, f"param:{name}:{agent}")
            assert xs == sorted(per) and ys == [per[it] for it in sorted(per)]
            drawn += 1
        assert_not_blank(figure.figure)
    assert drawn > 0


def test_a_run_with_one_iteration_plots(plain_out: Path) -> None:
    tables = SweepTables(open_store(str(plain_out)), PLAIN, str(plain_out))
    one = [r["run_id"] for r in tables.runs() if r["iterations"] == 1]
    assert one
    for run_id in one:
        cost, params = run_figures(tables, run_id)
        xs, _ = line_xy(cost.figure, "cost:total")
        assert xs == [0.0, 1.0]
        assert_not_blank(cost.figure)
        assert_not_blank(params.figure)


def test_a_failed_run_plots_what_it_stored(mixed_out: Path) -> None:
    tables = SweepTables(open_store(str(mixed_out)), MIXED, str(mixed_out))
    failed = [r["run_id"] for r in tables.runs() if r["status"] == "failed"]
    assert failed
    for run_id in failed:
        cost, _ = run_figures(tables, run_id)
        assert "FAILED" in cost.figure.axes[0].get_title()
        assert_not_blank(cost.figure)
        assert not math.isnan(line_xy(cost.figure, "baseline:total")[1][0])
