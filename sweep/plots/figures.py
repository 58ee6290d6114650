"""Which figures a run and a sweep get, built from their frames, and writing them to files.

A `DrawnFigure` keeps the frames it was drawn from, so a caller (a test, the report) can say
exactly what the picture shows. File names: ``<sweep>/final_cost.png``, ``settlement.png``,
``stop_reasons.png``, ``llm.png`` (only for a sweep with LLM calls), and per run
``<sweep>/runs/<run_id>/cost.png`` and ``parameters.png``. The day chart of one simulated
day (``paylab simulate --plot``) is built here too, from the reference engine's trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import Schedule
from runner.engine.setup import EngineSetup
from sweep.plots.day_frames import day_frames, reconcile
from sweep.plots.draw_day import draw_day
from sweep.plots.draw_llm import draw_llm
from sweep.plots.draw_run import draw_costs, draw_parameters
from sweep.plots.draw_sweep import draw_final_costs, draw_settlement, draw_stops
from sweep.plots.llm_frames import llm_frames
from sweep.plots.run_frames import baseline_frame, cost_frame, decision_frame, parameter_frame
from sweep.plots.source import SweepTables
from sweep.plots.style import check_format, save_figure
from sweep.plots.sweep_frames import sweep_frames


@dataclass(frozen=True)
class DrawnFigure:
    """A figure with the frames (small `pyarrow.Table`s) it was drawn from."""

    name: str  # path of the file without suffix, relative to the output folder
    title: str
    frames: dict[str, Any]
    figure: Figure


def run_frames(tables: SweepTables, run_id: str) -> dict[str, Any]:
    """Every frame of one run's figures: costs, baselines, decisions, parameters."""
    run = tables.run(run_id)
    iterations = tables.for_run("iterations", run_id)
    costs = cost_frame(iterations)
    return {
        "costs": costs,
        "baselines": baseline_frame(run, costs),
        "decisions": decision_frame(tables.for_run("proposals", run_id), costs),
        "parameters": parameter_frame(iterations),
    }


def run_figures(tables: SweepTables, run_id: str) -> list[DrawnFigure]:
    """The two figures of one run (raises `ConfigError` for an unknown run id)."""
    run = tables.run(run_id)
    frames = run_frames(tables, run_id)
    base = f"{tables.sweep}/runs/{run_id}"
    cost_frames = {k: frames[k] for k in ("costs", "baselines", "decisions")}
    return [
        DrawnFigure(f"{base}/cost", "reference-set cost per iteration", cost_frames, draw_costs(run, cost_frames)),
        DrawnFigure(
            f"{base}/parameters",
            "policy parameters per iteration",
            {"parameters": frames["parameters"]},
            draw_parameters(run, frames["parameters"]),
        ),
    ]


def sweep_figures(tables: SweepTables, by: Sequence[str]) -> list[DrawnFigure]:
    """The sweep's figures grouped by ``by``; the LLM figure only when the sweep made calls."""
    frames = sweep_frames(tables.runs(), by, tables.proposal_counts())
    name = tables.sweep
    out = [
        DrawnFigure(f"{name}/final_cost", "final cost vs baseline per group", frames, draw_final_costs(name, frames)),
        DrawnFigure(f"{name}/settlement", "settlement rate per group", frames, draw_settlement(name, frames)),
        DrawnFigure(f"{name}/stop_reasons", "iterations to stop by stop reason", frames, draw_stops(name, frames)),
    ]
    llm = llm_frames(tables.table("llm_calls"))
    if llm["models"].num_rows:
        out.append(
            DrawnFigure(f"{name}/llm", "LLM calls, tokens, spend and latency per model", llm, draw_llm(name, llm))
        )
    return out


def write_figures(figures: Sequence[DrawnFigure], out_dir: Path, fmt: str) -> list[Path]:
    """Save each figure as ``out_dir/<name>.<fmt>``; returns the paths written."""
    check_format(fmt, "--format")
    return [save_figure(f.figure, out_dir / f"{f.name}.{fmt}", fmt) for f in figures]


def day_figure(setup: EngineSetup, schedule: Schedule, title: str) -> tuple[DrawnFigure, list[str]]:
    """The day chart of ``schedule`` under ``setup``, and where its replay disagrees with the
    engine's own totals (`sweep.plots.day_frames.reconcile`; empty when it agrees)."""
    table, events = ReferenceEngine(setup).run(schedule, trace=True)
    frames = day_frames(setup, events)
    figure = DrawnFigure("day", title, frames, draw_day(title, frames, setup.ticks_per_day))
    return figure, reconcile(frames, table)


def save_day_chart(setup: EngineSetup, schedule: Schedule, path: Path, title: str) -> list[str]:
    """Write the day chart to ``path`` (format from its suffix: .png, .svg or .pdf); returns
    the reconciliation problems (see `day_figure`)."""
    fmt = check_format(path.suffix.lstrip(".").lower(), "--plot")
    figure, problems = day_figure(setup, schedule, title)
    save_figure(figure.figure, path, fmt)
    return problems
