"""``paylab plot`` and ``paylab report``: figures and a self-contained HTML page of a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from paylab_cli import cli

if TYPE_CHECKING:  # imported lazily at run time: `paylab --help` stays fast
    from sweep.plots.source import SweepTables


def _by(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _local_default(out: str, name: str) -> Path:
    """``OUT/name`` for a local OUT; ``./name`` when OUT is a URI (figures are written locally)."""
    return Path(name) if "://" in out else Path(out) / name


@cli.command()
@click.argument("out", type=str)
@click.option("--sweep", "sweep_name", default=None, help="Only this sweep (default: every sweep in OUT).")
@click.option(
    "--run",
    "run_ids",
    multiple=True,
    metavar="RUN_ID",
    help="Draw this run's figures instead of the sweep's (repeatable).",
)
@click.option(
    "--by",
    default="scenario,model",
    show_default=True,
    help="Grouping columns of the sweep figures, comma separated (as for analyze).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the figures (default: OUT/plots, or ./plots when OUT is a URI).",
)
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True)
def plot(out: str, sweep_name: str | None, run_ids: tuple[str, ...], by: str, out_dir: Path | None, fmt: str) -> None:
    """Draw a sweep's figures (or one run's, with --run) from the Parquet tables in OUT."""
    from sweep.plots.figures import run_figures, sweep_figures, write_figures
    from sweep.plots.source import open_sweeps
    from sweep.plots.sweep_frames import check_by
    from sweep.store import open_store

    store = open_store(out)
    target = out_dir or _local_default(out, "plots")
    groups = _by(by)
    tables = open_sweeps(store, out, sweep_name)
    for t in tables:  # every bad input is reported before anything is drawn or written
        check_by(t.runs(), groups)
    if run_ids:
        owners = [_owner(tables, run_id) for run_id in run_ids]
        figures = [f for t, run_id in zip(owners, run_ids, strict=True) for f in run_figures(t, run_id)]
    else:
        figures = [f for t in tables for f in sweep_figures(t, groups)]
    for path in write_figures(figures, target, fmt):
        click.echo(str(path))


def _owner(tables: list[SweepTables], run_id: str) -> SweepTables:
    """The sweep tables holding ``run_id``; the first sweep's one-line error when none does."""
    for t in tables:
        if run_id in t.run_ids():
            return t
    tables[0].run(run_id)  # raises "no run …"
    raise AssertionError("unreachable")


@cli.command()
@click.argument("out", type=str)
@click.option("--sweep", "sweep_name", default=None, help="Only this sweep (default: every sweep in OUT).")
@click.option(
    "--by",
    default="scenario,model",
    show_default=True,
    help="Grouping columns of the analysis and the sweep figures, comma separated.",
)
@click.option(
    "--output",
    "path",
    type=click.Path(path_type=Path),
    default=None,
    help="The HTML file (default: OUT/report.html, or ./report.html when OUT is a URI).",
)
def report(out: str, sweep_name: str | None, by: str, path: Path | None) -> None:
    """Write one self-contained report.html (figures, analysis, runs, decisions, LLM audit)."""
    from sweep.report import write_report
    from sweep.store import open_store

    written = write_report(open_store(out), out, sweep_name, _by(by), path or _local_default(out, "report.html"))
    click.echo(str(written.resolve()))
