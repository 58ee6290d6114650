"""Compare the runs of a sweep: one row per group (default: scenario × model).

This module reads the store and checks the arguments; the per-group statistics are
`sweep.analysis_stats` and their rendering (text table, CSV, JSON) `sweep.analysis_render`.
Only pyarrow and the standard library are used: pandas and scipy are not dependencies.

Example: ``analyze_results(open_store("results/"), "castro_models", ["scenario"], "csv")``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa

from runner.errors import ConfigError
from sweep.analysis_render import group_record, render_csv, render_table
from sweep.analysis_stats import Proposals, summarize
from sweep.part_names import check_names

FORMATS = ("table", "csv", "json")


class TableReader(Protocol):
    """The part of a result store analysis needs (`sweep.store.ResultStore` has it)."""

    def read(self, table: str, sweep: str | None = None, run_id: str | None = None) -> pa.Table: ...


def analysis_table(store: TableReader, sweep: str | None) -> str:
    """The default comparison (by scenario and model) as a text table."""
    return analyze_results(store, sweep, ["scenario", "model"], "table")


def analyze_results(store: TableReader, sweep: str | None, by: Sequence[str], fmt: str = "table") -> str:
    """Compare the runs of ``sweep`` (or of every sweep in the store) grouped by ``by``.

    Args:
        store: a result store (anything with ``read(table, sweep=None, run_id=None)``).
        sweep: the sweep name; None analyses every sweep (grouped per sweep when several).
        by: grouping columns: runs-table columns (``scenario``, ``model``, ``replicate``…),
            ``param_…`` columns, or dotted parameter keys (``llm.model``).
        fmt: ``table`` (dollars, for people), ``csv`` or ``json`` (cents, for programs).

    Returns:
        The report; a one-line message when there are no runs to analyse.

    Raises:
        ConfigError: ``by`` names an unknown column or ``fmt`` an unknown format.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"must be one of {', '.join(FORMATS)}, got {fmt!r}", path="--format")
    try:
        check_names(sweep or "x")  # the store's rule for names that become folder names
    except ValueError as exc:
        raise ConfigError(str(exc), path="--sweep") from None
    runs = store.read("runs", sweep=sweep).to_pylist()  # one row per run, sorted by the store
    if not runs:
        return _empty_message(store, sweep)
    labels = list(by) or ["scenario", "model"]
    if sweep is None and len({r["sweep"] for r in runs}) > 1 and "sweep" not in labels:
        labels.insert(0, "sweep")  # never pool runs of different sweeps silently
    groups = summarize(runs, labels, proposal_counts(store, sweep))
    if fmt == "csv":
        return render_csv(labels, groups)
    if fmt == "json":
        records = [group_record(labels, g) for g in groups]
        return json.dumps({"sweep": sweep, "by": labels, "groups": records}, indent=2, default=str)
    return render_table(labels, groups)


def proposal_counts(store: TableReader, sweep: str | None) -> Proposals:
    """Counts per (sweep, run_id): a cell has the same run id in every sweep that holds it."""
    table = store.read("proposals", sweep=sweep)
    if table.num_rows == 0:
        return {}
    table = table.select(["sweep", "run_id", "accepted"]).cast(
        pa.schema([("sweep", pa.string()), ("run_id", pa.string()), ("accepted", pa.int64())])
    )
    stats = table.group_by(["sweep", "run_id"]).aggregate([([], "count_all"), ("accepted", "sum")])
    return {
        (str(r["sweep"]), str(r["run_id"])): (int(r["count_all"]), int(r["accepted_sum"] or 0))
        for r in stats.to_pylist()
    }


def _empty_message(store: TableReader, sweep: str | None) -> str:
    if sweep is None:
        return f"no runs found in {getattr(store, 'root', 'the store')}"
    every = store.read("runs")
    others = sorted({str(s) for s in every.column("sweep").to_pylist()}) if every.num_rows else []
    return f"no runs for sweep {sweep!r}" + (f" (found: {', '.join(others)})" if others else "")
