"""Draw one run: reference cost per iteration with decisions, and its policy parameters.

Artists carry gids a test can find: ``cost:<series>`` and ``baseline:<series>`` (lines),
``decision:<outcome>`` (marker collections), ``delta:<agent>`` (mean paired deltas) and
``ci:<agent>`` (their intervals, one vertical segment each), ``param:<parameter>:<agent>``.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from sweep.plots.run_frames import TOTAL
from sweep.plots.style import (
    ACCEPTED,
    INVALID,
    REJECTED,
    colour,
    dollars_axis,
    empty_note,
    new_figure,
    to_dollars,
)

MARKERS = {"accepted": ("^", ACCEPTED), "rejected": ("x", REJECTED), "invalid": ("o", INVALID)}


def run_title(run: dict[str, Any]) -> str:
    parts = [str(run["run_id"])]
    parts += [str(run[k]) for k in ("scenario", "model") if run.get(k)]
    status = run.get("status")
    if status and status != "done":
        parts.append(str(status).upper())
    return " · ".join(parts)


def draw_costs(run: dict[str, Any], frames: dict[str, Any]) -> Figure:
    """Reference-set cost per iteration (total and per agent) over the baseline, decisions
    marked on their agent's line; below, each decision's paired saving with its CI."""
    fig, (ax, dax) = new_figure(2, 1, width=8.0, height=6.0, sharex=True)
    costs, decisions = frames["costs"].to_pylist(), frames["decisions"].to_pylist()
    series = list(dict.fromkeys(r["series"] for r in costs))
    agents = [s for s in series if s != TOTAL]
    style = {TOTAL: ("#000000", 2.2)} | {a: (colour(k), 1.4) for k, a in enumerate(agents)}
    for name in series:
        rows = [r for r in costs if r["series"] == name]
        col, width = style[name]
        (line,) = ax.plot(
            [r["iteration"] for r in rows],
            to_dollars([r["cost"] for r in rows]),
            marker=".",
            color=col,
            linewidth=width,
            label=name,
        )
        line.set_gid(f"cost:{name}")
    for r in frames["baselines"].to_pylist():
        col, _ = style.get(r["series"], ("#000000", 1.0))
        base = ax.axhline(
            r["cost"] / 100.0,
            color=col,
            linestyle="--",
            linewidth=0.9,
            alpha=0.7,
            label="baseline" if r["series"] == TOTAL else None,
        )
        base.set_gid(f"baseline:{r['series']}")
    for name, (marker, col) in MARKERS.items():
        rows = [r for r in decisions if r["outcome"] == name and r["marker_cost"] is not None]
        if rows:
            dots = ax.scatter(
                [r["iteration"] for r in rows],
                to_dollars([r["marker_cost"] for r in rows]),
                marker=marker,
                color=col,
                s=46,
                zorder=4,
                label=name,
            )
            dots.set_gid(f"decision:{name}")
    if not costs:
        empty_note(ax, "no iteration recorded")
    ax.set_title(run_title(run), fontsize=10)
    ax.set_ylabel("reference-set cost")
    dollars_axis(ax)
    ax.legend(fontsize=7, ncol=3, loc="best")
    _draw_deltas(dax, decisions, agents)
    return fig


def _draw_deltas(ax: Any, decisions: list[dict[str, Any]], agents: list[str]) -> None:
    tested = [r for r in decisions if r["mean_delta"] is not None and r["n_samples"]]
    if not tested:
        empty_note(ax, "no proposal was evaluated (paired saving, 95% CI)")
        return
    known = agents + sorted({r["agent"] for r in tested} - set(agents))
    width = 0.5 / max(1, len(known))
    for k, agent in enumerate(known):
        rows = [r for r in tested if r["agent"] == agent]
        if not rows:
            continue
        x = [r["iteration"] + (k - (len(known) - 1) / 2) * width for r in rows]
        ci = ax.vlines(
            x,
            to_dollars([r["ci_low"] for r in rows]),
            to_dollars([r["ci_high"] for r in rows]),
            color=colour(k),
            linewidth=1.6,
        )
        ci.set_gid(f"ci:{agent}")
        (mean,) = ax.plot(
            x,
            to_dollars([r["mean_delta"] for r in rows]),
            linestyle="none",
            marker="o",
            markersize=4,
            color=colour(k),
            label=agent,
        )
        mean.set_gid(f"delta:{agent}")
        for xi, r in zip(x, rows, strict=True):
            ax.plot(
                [xi],
                [r["mean_delta"] / 100.0],
                linestyle="none",
                marker="s",
                markersize=8,
                markerfacecolor="none",
                markeredgecolor=ACCEPTED if r["accepted"] else REJECTED,
            )
    ax.axhline(0.0, color="#000000", linewidth=0.8)
    ax.set_ylabel("paired saving (old − new)\nmean, 95% CI")
    ax.set_xlabel("iteration")
    dollars_axis(ax)
    ax.legend(fontsize=7, loc="upper right", title="green box: accepted, red: rejected", title_fontsize=7)


def draw_parameters(run: dict[str, Any], frame: Any) -> Figure:
    """Each agent's policy parameters over iterations, one panel per parameter."""
    rows = frame.to_pylist()
    names = list(dict.fromkeys(r["parameter"] for r in rows))
    fig, axes = new_figure(max(1, len(names)), 1, width=8.0, height=1.2 + 1.8 * max(1, len(names)), sharex=True)
    if not names:
        empty_note(axes[0], "no numeric policy parameters")
        axes[0].set_title(run_title(run), fontsize=10)
        return fig
    agents = list(dict.fromkeys(r["agent"] for r in sorted(rows, key=lambda r: r["agent"])))
    for ax, name in zip(axes, names, strict=True):
        for k, agent in enumerate(agents):
            mine = [r for r in rows if r["parameter"] == name and r["agent"] == agent]
            if mine:
                (line,) = ax.plot(
                    [r["iteration"] for r in mine],
                    [r["value"] for r in mine],
                    marker=".",
                    drawstyle="steps-post",
                    color=colour(k),
                    label=agent,
                )
                line.set_gid(f"param:{name}:{agent}")
        ax.set_ylabel(name, fontsize=8)
        ax.legend(fontsize=7, loc="best")
    axes[0].set_title(run_title(run) + " — policy parameters", fontsize=10)
    axes[-1].set_xlabel("iteration")
    return fig
