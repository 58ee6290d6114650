"""Draw a sweep's LLM use per model: calls, tokens, spend and latency.

Bars carry gids ``calls:<model>``, ``errors:<model>``, ``prompt_tokens:<model>``,
``completion_tokens:<model>`` and ``cost:<model>``; latency points ``latency:<model>``,
their median and 95th percentile ``latency:p50`` and ``latency:p95``.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from sweep.plots.draw_sweep import spread
from sweep.plots.style import REJECTED, colour, empty_note, new_figure


def _bars(ax: Any, x: list[int], heights: list[float], name: str, models: list[str], **kw: Any) -> None:
    bars = ax.bar(x, heights, **kw)
    for patch, model in zip(bars.patches, models, strict=True):
        patch.set_gid(f"{name}:{model}")


def draw_llm(sweep: str, frames: dict[str, Any]) -> Figure:
    """Four panels per model: HTTP calls (errors hatched), tokens, spend in USD, latency."""
    rows = frames["models"].to_pylist()
    models = [r["model"] for r in rows]
    fig, (calls, tokens, spend, latency) = new_figure(2, 2, width=max(8.0, 2.0 * len(models) + 4.0), height=6.0)
    fig.suptitle(f"{sweep}: LLM use per model", fontsize=10)
    if not rows:
        for ax in (calls, tokens, spend, latency):
            empty_note(ax, "no LLM calls in this sweep")
        return fig
    x = list(range(len(models)))
    cols = [colour(k) for k in x]
    _bars(calls, x, [r["calls"] for r in rows], "calls", models, color=cols, label="calls")
    _bars(
        calls,
        x,
        [r["errors"] for r in rows],
        "errors",
        models,
        color="none",
        edgecolor=REJECTED,
        hatch="//",
        label="errors",
    )
    calls.set_ylabel("HTTP calls")
    calls.legend(fontsize=7)
    prompt = [r["prompt_tokens"] for r in rows]
    _bars(tokens, x, prompt, "prompt_tokens", models, color=cols, alpha=0.55, label="prompt")
    _bars(
        tokens,
        x,
        [r["completion_tokens"] for r in rows],
        "completion_tokens",
        models,
        bottom=prompt,
        color=cols,
        label="completion",
    )
    tokens.set_ylabel("tokens")
    tokens.legend(fontsize=7)
    _bars(spend, x, [r["cost_usd"] for r in rows], "cost", models, color=cols)
    spend.set_ylabel("spend (USD)")
    _draw_latency(latency, frames["latencies"].to_pylist(), rows)
    for ax in (calls, tokens, spend, latency):
        ax.set_xticks(x)
        ax.set_xticklabels(models, rotation=20 if len(models) > 2 else 0, fontsize=8)
    return fig


def _draw_latency(ax: Any, points: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    for k, r in enumerate(rows):
        mine = [p["latency_s"] for p in points if p["model"] == r["model"]]
        dots = ax.scatter([k + d for d in spread(len(mine))], mine, s=8, alpha=0.5, color=colour(k))
        dots.set_gid(f"latency:{r['model']}")
    for key, marker in (("latency_p50_s", "_"), ("latency_p95_s", "v")):
        (line,) = ax.plot(
            range(len(rows)),
            [float("nan") if r[key] is None else r[key] for r in rows],
            linestyle="none",
            marker=marker,
            markersize=14 if marker == "_" else 6,
            markeredgewidth=2,
            color="#000000",
            label=key.split("_")[1],
        )
        line.set_gid(f"latency:{key.split('_')[1]}")
    ax.set_ylabel("latency per call (s)")
    ax.legend(fontsize=7)
