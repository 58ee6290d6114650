"""How `paylab analyze` shows group summaries: a text table (dollars), CSV and JSON records (cents).

The figures come from `sweep.analysis_stats`; this module only formats them. The text table
left-aligns the grouping keys, right-aligns the figures and lists failed runs below it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from runner.money import format_cents
from sweep.analysis_stats import GroupSummary, Row


def group_record(labels: list[str], group: GroupSummary) -> Row:
    """A flat dict for csv/json: cents, fractions and USD, no formatting."""
    data = asdict(group)
    del data["key"]
    data["failed_runs"] = [{"run_id": r, "error": e} for r, e in group.failed_runs]
    return {**dict(zip(labels, group.key, strict=True)), **data, "acceptance_rate": group.acceptance_rate}


def render_csv(labels: list[str], groups: list[GroupSummary]) -> str:
    """One CSV row per group (`group_record`); stop reasons and failed runs joined by ';'."""
    out = io.StringIO()
    records = [group_record(labels, g) for g in groups]
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        record["stop_reasons"] = ";".join(f"{k}={v}" for k, v in record["stop_reasons"].items())
        record["failed_runs"] = ";".join(f["run_id"] for f in record["failed_runs"])
        writer.writerow(record)
    return out.getvalue()


def _cells(g: GroupSummary) -> list[str]:
    cost = format_cents(g.final_cost_mean) + ("" if g.final_cost_sd is None else f" ± {format_cents(g.final_cost_sd)}")
    ci = (
        "—"
        if g.final_cost_ci_low is None
        else f"[{format_cents(g.final_cost_ci_low)}, {format_cents(g.final_cost_ci_high)}]"
    )
    change = (
        "baseline"
        if g.is_baseline
        else "—"
        if g.delta_mean is None
        else (format_cents(g.delta_mean, plus=True) + ("" if g.delta_pct is None else f" ({g.delta_pct:+.1f}%)"))
    )
    change_ci = (
        "—"
        if g.delta_ci_low is None
        else f"[{format_cents(g.delta_ci_low, plus=True)}, {format_cents(g.delta_ci_high, plus=True)}]"
    )
    rate = g.acceptance_rate
    return [
        f"{g.done}/{g.failed}",
        cost,
        ci,
        change,
        change_ci,
        "—" if g.settlement_rate is None else f"{100 * g.settlement_rate:.1f}%",
        "—" if g.iterations is None else f"{g.iterations:.1f}",
        ", ".join(f"{k} {v}" for k, v in g.stop_reasons.items()) or "—",
        "—" if rate is None else f"{100 * rate:.0f}% ({g.accepted}/{g.proposals})",
        str(g.llm_calls),
        f"{g.llm_prompt_tokens + g.llm_completion_tokens:,}",
        f"${g.llm_cost_usd:,.2f}",
        "—" if g.rank is None else str(g.rank),
    ]


HEADERS = [
    "done/failed",
    "final cost (mean ± sd)",
    "95% CI",
    "vs baseline",
    "vs baseline 95% CI",
    "settled",
    "iters",
    "stop",
    "accepted",
    "LLM calls",
    "tokens",
    "LLM $",
    "rank",
]


def render_table(labels: list[str], groups: list[GroupSummary]) -> str:
    """The text table for people: money in dollars, then a legend and the failed runs."""
    rows = [[_text(v) for v in g.key] + _cells(g) for g in groups]
    header = labels + HEADERS
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:  # keys left-aligned, figures right-aligned
        return "  ".join(
            c.ljust(w) if i < len(labels) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [
        line(header),
        line(["-" * w for w in widths]),
        *(line(r) for r in rows),
        "vs baseline: mean paired difference per replicate (same scenario and parameters), with "
        "its 95 % t-interval over the replicates; rank 1 = cheapest mean final cost",
    ]
    failed = [(g, run) for g in groups for run in g.failed_runs]
    if failed:
        out.append(f"failed runs ({len(failed)}), excluded from cost statistics:")
        out += [
            f"  {run_id} ({', '.join(_text(v) for v in g.key)}): {error or 'no error recorded'}"
            for g, (run_id, error) in failed
        ]
    return "\n".join(out)


def _text(value: Any) -> str:
    return "—" if value is None else str(value)
