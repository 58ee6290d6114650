"""``paylab report``: one self-contained HTML page per output folder.

Per sweep: the `paylab analyze` table, the sweep's figures, a table of every run, and one
section per run with its figures, its decisions (outcome, paired saving and CI, reason) and,
folded in ``<details>``, excerpts of its LLM audit (prompts, answers, reasoning, errors).
Everything is embedded (figures as ``data:`` URIs) and escaped (`sweep.report_html`), so the
file opens from disk in any browser, offline, and LLM text can never become markup.

Bounds: run sections get figures for the first `MAX_RUN_FIGURES` runs of a sweep (the rest
get their decisions only) and the audit shows `MAX_AUDIT_CALLS` calls per run, each text cut
at `sweep.report_html.EXCERPT_CHARS` characters — a 2 000-run sweep stays a page a browser opens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.experiment.status import RunStatus
from runner.money import format_cents
from sweep.analysis import TableReader, analyze_results
from sweep.plots.figures import run_figures, sweep_figures
from sweep.plots.run_frames import outcome
from sweep.plots.source import SweepTables, open_sweeps
from sweep.plots.sweep_frames import check_by
from sweep.report_html import Raw, anchor, esc, excerpt, figure, page, table

MAX_RUN_FIGURES = 100
MAX_AUDIT_CALLS = 40


def build_report(store: TableReader, where: str, sweep: str | None, by: Sequence[str]) -> str:
    """The report of ``sweep`` (or every sweep in ``where``) as one HTML document."""
    groups = list(by) or ["scenario", "model"]
    all_tables = open_sweeps(store, where, sweep)
    for t in all_tables:  # bad --by fails before anything is drawn
        check_by(t.runs(), groups)
    nav = "".join(
        f'<li><a href="#{anchor("sweep", t.sweep)}">{esc(t.sweep)}</a> ({len(t.runs())} runs)</li>' for t in all_tables
    )
    body = [f'<h1>paylab report</h1><p class="muted">results: {esc(where)}</p><nav><ul>{nav}</ul></nav>']
    body += [_sweep_section(t, groups) for t in all_tables]
    title = "paylab report — " + ", ".join(t.sweep for t in all_tables)
    return page(title, "\n".join(body))


def write_report(store: TableReader, where: str, sweep: str | None, by: Sequence[str], path: Path) -> Path:
    """Write the report to ``path`` through a temporary file; returns ``path``."""
    text = build_report(store, where, sweep, by)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _sweep_section(tables: SweepTables, by: list[str]) -> str:
    name = tables.sweep
    out = [
        f'<section id="{anchor("sweep", name)}"><h2>Sweep {esc(name)}</h2>',
        f"<h3>Analysis (by {esc(', '.join(by))})</h3>",
        f"<pre>{esc(analyze_results(tables.reader(), name, by, 'table'))}</pre>",
        "<h3>Figures</h3>",
    ]
    figures = sweep_figures(tables, by)
    out += [figure(f.figure, f"{name}: {f.title}") for f in figures]
    if not any(f.name.endswith("/llm") for f in figures):
        out.append('<p class="muted">No LLM calls in this sweep.</p>')
    runs = tables.runs()
    out += ["<h3>Runs</h3>", _runs_table(runs)]
    for k, run_id in enumerate(tables.run_ids()):
        out.append(_run_section(tables, run_id, with_figures=k < MAX_RUN_FIGURES))
    if len(tables.run_ids()) > MAX_RUN_FIGURES:
        out.append(
            f'<p class="muted">Figures are shown for the first {MAX_RUN_FIGURES} runs; '
            f"draw any other with <code>paylab plot OUT --run RUN_ID</code>.</p>"
        )
    out.append("</section>")
    return "\n".join(out)


def _runs_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for r in runs:
        link = Raw(f'<a href="#{anchor("run", r["run_id"])}">{esc(r["run_id"])}</a>')
        lines = str(r.get("error") or "").strip().splitlines()
        error = lines[0] if lines else None
        rows.append(
            [
                link,
                r.get("scenario"),
                r.get("model"),
                r.get("replicate"),
                Raw(_status(r.get("status"))),
                r.get("iterations"),
                r.get("stop_reason"),
                format_cents(r.get("baseline_total_cost")),
                format_cents(r.get("final_total_cost")),
                error,
            ]
        )
    return table(
        ["run", "scenario", "model", "replicate", "status", "iterations", "stop", "baseline", "final", "error"],
        rows,
        numeric=(3, 5, 7, 8),
    )


def _status(status: Any) -> str:
    cls = "ok" if status == RunStatus.DONE else "bad" if status == RunStatus.FAILED else "grey"
    return f'<span class="{cls}">{esc(status)}</span>'


def _run_section(tables: SweepTables, run_id: str, with_figures: bool) -> str:
    run = tables.run(run_id)
    facts = ", ".join(
        f"{k} {esc(run.get(k))}"
        for k in ("scenario", "model", "replicate", "iterations", "stop_reason")
        if run.get(k) is not None
    )
    out = [
        f'<section class="run" id="{anchor("run", run_id)}"><h3>Run {esc(run_id)}</h3>',
        f"<p>{_status(run.get('status'))} · {facts} · cost {format_cents(run.get('baseline_total_cost'))} → "
        f"{format_cents(run.get('final_total_cost'))}</p>",
    ]
    if run.get("error"):
        out.append(f'<pre class="wrap bad">{excerpt(str(run["error"]))}</pre>')
    if with_figures:
        out += [figure(f.figure, f"{run_id}: {f.title}") for f in run_figures(tables, run_id)]
    out += ["<h4>Decisions</h4>", _decisions(tables.for_run("proposals", run_id).to_pylist())]
    out.append(_audit(tables.for_run("llm_calls", run_id).to_pylist()))
    out.append("</section>")
    return "\n".join(out)


def _decisions(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="muted">No proposals.</p>'
    body = []
    for r in rows:
        kind = outcome(r)
        ci = "—" if r["ci_low"] is None else f"[{format_cents(r['ci_low'])}, {format_cents(r['ci_high'])}]"
        cls = {"accepted": "ok", "rejected": "bad"}.get(kind, "grey")
        body.append(
            [
                r["iteration"],
                r["agent"],
                Raw(f'<span class="{cls}">{kind}</span>'),
                format_cents(r["mean_delta"]),
                ci,
                r["n_samples"],
                f"{format_cents(r['old_mean_cost'])} → {format_cents(r['new_mean_cost'])}",
                r["reason"],
            ]
        )
    return table(
        ["iteration", "agent", "outcome", "mean saving (old − new)", "CI", "samples", "mean cost old → new", "reason"],
        body,
        numeric=(0, 3, 5),
    )


def _audit(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return '<p class="muted">No LLM calls.</p>'
    items = [_call(c) for c in calls[:MAX_AUDIT_CALLS]]
    if len(calls) > MAX_AUDIT_CALLS:
        items.append(f'<p class="muted">… {len(calls) - MAX_AUDIT_CALLS} more calls in the llm_calls table.</p>')
    return (
        f'<details class="audit"><summary>LLM audit ({len(calls)} calls)</summary><div>'
        + "".join(items)
        + "</div></details>"
    )


def _call(c: dict[str, Any]) -> str:
    errors = json.loads(c.get("validation_errors_json") or "[]")
    result = c.get("error") or "; ".join(str(e) for e in errors) or "valid policy"
    head = (
        f"iteration {esc(c['iteration'])} · {esc(c['agent'])} · call {esc(c['call'])} "
        f"(attempt {esc(c['attempt'])}) · {esc(c['model'])} · tokens {esc(c['prompt_tokens'])}+"
        f"{esc(c['completion_tokens'])} · ${c['cost_usd'] or 0:.4f} · {c['latency_s'] or 0:.2f} s · "
        f"{esc(result[:120])}"
    )
    parts = []
    messages = json.loads(c.get("messages_json") or "[]")
    for m in messages if isinstance(messages, list) else []:
        role = m.get("role") if isinstance(m, dict) else None
        content = m.get("content") if isinstance(m, dict) else m
        parts.append(f'<h5>{esc(role)}</h5><pre class="wrap">{excerpt(str(content))}</pre>')
    parts.append(f'<h5>response</h5><pre class="wrap">{excerpt(c.get("response"))}</pre>')
    if c.get("reasoning"):
        parts.append(f'<h5>reasoning</h5><pre class="wrap">{excerpt(c["reasoning"])}</pre>')
    parts.append(f'<h5>outcome</h5><pre class="wrap">{excerpt(result)}</pre>')
    return f"<details><summary>{head}</summary>{''.join(parts)}</details>"
