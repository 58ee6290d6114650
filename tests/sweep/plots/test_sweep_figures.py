"""A sweep's figures show its stored runs and `paylab analyze`'s own statistics.

Final costs: every done replicate is a point (failed runs never are), the group means and
95 % intervals are the ``analyze --format json`` numbers, and the paired baseline markers
satisfy ``mean − baseline = the analysis's vs-baseline change`` for fully paired groups.
Settlement and stop-reason points are the runs table's; the LLM figure's bars are the
``llm_calls`` table's sums and agree with the runs table's totals per model. A sweep with
failed runs and a sweep without LLM calls both plot, with non-blank images.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from sweep.analysis import analyze_results
from sweep.plots.draw_sweep import MEAN_AT
from sweep.plots.figures import DrawnFigure, sweep_figures
from sweep.plots.source import SweepTables
from sweep.plots.sweep_frames import group_label
from sweep.store import open_store
from tests.sweep.plots.conftest import MIXED, PLAIN
from tests.sweep.plots.helpers import assert_not_blank, bar_height, dollars, gids, line_xy, points, segments

BY = ["scenario", "model"]


def _figures(out: Path, sweep: str, by: list[str]) -> dict[str, DrawnFigure]:
    tables = SweepTables(open_store(str(out)), sweep, str(out))
    return {f.name.split("/")[-1]: f for f in sweep_figures(tables, by)}


@pytest.fixture(scope="module")
def mixed(mixed_out: Path) -> dict[str, DrawnFigure]:
    return _figures(mixed_out, MIXED, BY)


def _runs(out: Path, sweep: str) -> list[dict[str, Any]]:
    return list(open_store(str(out)).read("runs", sweep=sweep).to_pylist())


def test_final_cost_points_are_every_done_replicate(mixed_out: Path, mixed: dict[str, DrawnFigure]) -> None:
    runs = _runs(mixed_out, MIXED)
    assert any(r["status"] == "failed" for r in runs)
    fig = mixed["final_cost"].figure
    want: dict[str, list[float]] = defaultdict(list)
    for r in sorted(runs, key=lambda r: r["run_id"]):
        if r["status"] == "done":
            want[group_label([r["scenario"], r["model"]])].append(dollars(r["final_total_cost"]))
    for group, costs in want.items():
        assert [y for _, y in points(fig, f"runs:{group}")] == costs
    # a group with only failed runs has no points at all; its label says how many failed
    failed_groups = {group_label([r["scenario"], r["model"]]) for r in runs} - set(want)
    assert failed_groups and not gids(fig, "runs:") & {f"runs:{g}" for g in failed_groups}
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert all(any(g in label and "(2 failed)" in label for label in labels) for g in failed_groups)
    assert_not_blank(fig)


def test_group_means_and_cis_are_the_analysis_numbers(mixed_out: Path, mixed: dict[str, DrawnFigure]) -> None:
    report = json.loads(analyze_results(open_store(str(mixed_out)), MIXED, BY, "json"))
    groups = report["groups"]
    fig = mixed["final_cost"].figure
    _, means = line_xy(fig, "mean")
    assert means == pytest.approx([dollars(g["final_cost_mean"]) for g in groups], nan_ok=True)
    ci = segments(fig, "ci")
    with_ci = [(x, g) for x, g in enumerate(groups) if g["final_cost_ci_low"] is not None]
    assert [x for x, _, _ in ci] == pytest.approx([x + MEAN_AT for x, _ in with_ci])
    assert [v for _, lo, hi in ci for v in (lo, hi)] == pytest.approx(
        [dollars(g[k]) for _, g in with_ci for k in ("final_cost_ci_low", "final_cost_ci_high")]
    )
    _, base = line_xy(fig, "baseline")
    paired = 0
    for g, mean, b in zip(groups, means, base, strict=True):
        if g["delta_mean"] is not None and g["pairs"] == g["done"]:
            assert mean - b == pytest.approx(dollars(g["delta_mean"]))
            paired += 1
    assert paired >= 2
    frame = mixed["final_cost"].frames["groups"].to_pylist()
    assert [f["group"] for f in frame] == [group_label([g[k] for k in BY]) for g in groups]


def test_settlement_and_stop_points_are_the_runs_table(mixed_out: Path, mixed: dict[str, DrawnFigure]) -> None:
    runs = [r for r in sorted(_runs(mixed_out, MIXED), key=lambda r: r["run_id"]) if r["status"] == "done"]
    rates: dict[str, list[float]] = defaultdict(list)
    stops: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        rates[group_label([r["scenario"], r["model"]])].append(r["final_settlement_rate"])
        stops[r["stop_reason"]].append(float(r["iterations"]))
    for group, want in rates.items():
        assert [y for _, y in points(mixed["settlement"].figure, f"settlement:{group}")] == want
    for reason, want in stops.items():  # points of a stop reason come group by group
        got = [y for _, y in points(mixed["stop_reasons"].figure, f"stop:{reason}")]
        assert sorted(got) == sorted(want) and len(got) == len(want)
    assert "4 failed runs not shown" in mixed["stop_reasons"].figure.axes[0].get_title()
    for name in ("settlement", "stop_reasons"):
        assert_not_blank(mixed[name].figure)


def test_llm_bars_are_the_llm_calls_table(mixed_out: Path, mixed: dict[str, DrawnFigure]) -> None:
    store = open_store(str(mixed_out))
    calls = store.read("llm_calls", sweep=MIXED).to_pylist()
    runs = _runs(mixed_out, MIXED)
    assert calls
    fig = mixed["llm"].figure
    for model in {c["model"] for c in calls}:
        mine = [c for c in calls if c["model"] == model]
        assert bar_height(fig, f"calls:{model}") == len(mine)
        assert bar_height(fig, f"errors:{model}") == sum(c["error"] is not None for c in mine)
        assert bar_height(fig, f"prompt_tokens:{model}") == sum(c["prompt_tokens"] for c in mine)
        assert bar_height(fig, f"completion_tokens:{model}") == sum(c["completion_tokens"] for c in mine)
        assert bar_height(fig, f"cost:{model}") == pytest.approx(sum(c["cost_usd"] for c in mine))
        assert sorted(y for _, y in points(fig, f"latency:{model}")) == sorted(c["latency_s"] for c in mine)
        in_runs = [r for r in runs if r["model"] == model]  # the runs table counts the same calls
        assert sum(r["llm_calls"] for r in in_runs) == len(mine)
        assert sum(r["llm_prompt_tokens"] for r in in_runs) == sum(c["prompt_tokens"] for c in mine)
        assert sum(r["llm_cost_usd"] for r in in_runs) == pytest.approx(sum(c["cost_usd"] for c in mine))
    assert bar_height(fig, f"cost:{calls[0]['model']}") > 0  # litellm priced the calls
    assert_not_blank(fig)


def test_a_sweep_without_llm_calls_plots_without_the_llm_figure(plain_out: Path) -> None:
    figures = _figures(plain_out, PLAIN, ["scenario", "model", "convergence.max_iterations"])
    assert sorted(figures) == ["final_cost", "settlement", "stop_reasons"]
    for f in figures.values():
        assert_not_blank(f.figure)
    groups = figures["final_cost"].frames["groups"].to_pylist()
    assert len(groups) == 8 and {g["group"].rsplit(" · ", 1)[1] for g in groups} == {"1", "3"}


def test_grouping_by_one_column_pools_replicates(mixed_out: Path) -> None:
    figures = _figures(mixed_out, MIXED, ["model"])
    runs = _runs(mixed_out, MIXED)
    points_frame = figures["final_cost"].frames["points"].to_pylist()
    assert len(points_frame) == len(runs)
    assert {p["group"] for p in points_frame} == {r["model"] for r in runs}
