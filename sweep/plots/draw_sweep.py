"""Draw a sweep: final cost vs baseline per group, settlement rate, iterations by stop reason.

Every replicate is a point, spread sideways in a fixed order (no random jitter: the same data
give the same picture). Gids: ``runs:<group>``, ``settlement:<group>``, ``stop:<reason>``
(point collections), ``mean`` and ``ci`` (group means and their 95 % intervals),
``baseline`` (mean paired baseline per group), ``settlement:mean``, ``stop:mean``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from sweep.plots.style import BASELINE, colour, dollars_axis, empty_note, new_figure, to_dollars

_SPREAD = 0.4  # points of a group spread over this width, left of its mean
POINTS_AT = -0.12  # offsets from the group's x position: its points (centre), its mean and CI
MEAN_AT = 0.28


def spread(n: int, centre: float = 0.0) -> list[float]:
    """Offsets of ``n`` points around ``centre``, evenly spaced."""
    if n <= 1:
        return [centre] * n
    return [centre - _SPREAD / 2 + _SPREAD * k / (n - 1) for k in range(n)]


def _width(n_groups: int) -> float:
    return min(16.0, max(6.0, 1.1 * n_groups + 2.0))


def _tick_labels(ax: Any, labels: Sequence[str]) -> None:
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(
        labels, rotation=25 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center", fontsize=8
    )


def draw_final_costs(sweep: str, frames: dict[str, Any]) -> Figure:
    """Final total cost per group: every done replicate, the mean with its 95 % CI, and the
    mean cost of the paired baseline runs."""
    groups, points = frames["groups"].to_pylist(), frames["points"].to_pylist()
    fig, (ax,) = new_figure(width=_width(len(groups)), height=4.8)
    if not any(p["final_total_cost"] is not None for p in points):
        empty_note(ax, "no finished run")
        ax.set_title(f"{sweep}: final cost", fontsize=10)
        return fig
    for x, g in enumerate(groups):
        mine = [p for p in points if p["group"] == g["group"] and p["final_total_cost"] is not None]
        if not mine:  # every run of the group failed: its label says so
            continue
        dots = ax.scatter(
            [x + d for d in spread(len(mine), POINTS_AT)],
            to_dollars([p["final_total_cost"] for p in mine]),
            s=18,
            color=colour(x),
            alpha=0.75,
            zorder=3,
        )
        dots.set_gid(f"runs:{g['group']}")
    xs = [x + MEAN_AT for x in range(len(groups))]
    (mean,) = ax.plot(
        xs,
        to_dollars([g["mean"] for g in groups]),
        linestyle="none",
        marker="D",
        color="#000000",
        markersize=6,
        zorder=4,
        label="mean",
    )
    mean.set_gid("mean")
    with_ci = [(x, g) for x, g in enumerate(groups) if g["ci_low"] is not None]
    ci = ax.vlines(
        [x + MEAN_AT for x, _ in with_ci],
        to_dollars([g["ci_low"] for _, g in with_ci]),
        to_dollars([g["ci_high"] for _, g in with_ci]),
        color="#000000",
        linewidth=1.8,
        zorder=4,
        label="95% CI of the mean",
    )
    ci.set_gid("ci")
    (base,) = ax.plot(
        [x + POINTS_AT for x in range(len(groups))],
        to_dollars([g["baseline_mean"] for g in groups]),
        linestyle="none",
        marker="_",
        markersize=30,
        markeredgewidth=2.0,
        color=BASELINE,
        label="paired baseline (mean)",
    )
    base.set_gid("baseline")
    labels = [g["group"] + (f"\n({g['failed']} failed)" if g["failed"] else "") for g in groups]
    _tick_labels(ax, labels)
    ax.set_ylabel("final total cost")
    dollars_axis(ax)
    ax.set_title(f"{sweep}: final cost per run vs baseline", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return fig


def draw_settlement(sweep: str, frames: dict[str, Any]) -> Figure:
    """Final settlement rate of every done run per group, with the group mean."""
    groups, points = frames["groups"].to_pylist(), frames["points"].to_pylist()
    fig, (ax,) = new_figure(width=_width(len(groups)), height=3.6)
    for x, g in enumerate(groups):
        mine = [p for p in points if p["group"] == g["group"] and p["final_settlement_rate"] is not None]
        if not mine:
            continue
        dots = ax.scatter(
            [x + d for d in spread(len(mine), POINTS_AT)],
            [p["final_settlement_rate"] for p in mine],
            s=18,
            color=colour(x),
            alpha=0.75,
        )
        dots.set_gid(f"settlement:{g['group']}")
    rates = [float("nan") if g["settlement_rate"] is None else g["settlement_rate"] for g in groups]
    (mean,) = ax.plot(
        [x + MEAN_AT for x in range(len(groups))],
        rates,
        linestyle="none",
        marker="D",
        color="#000000",
        markersize=6,
        label="mean",
    )
    mean.set_gid("settlement:mean")
    _tick_labels(ax, [g["group"] for g in groups])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("final settlement rate")
    ax.set_title(f"{sweep}: settlement rate", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return fig


def draw_stops(sweep: str, frames: dict[str, Any]) -> Figure:
    """Iterations each done run took, per stop reason (converged, max_iterations, budget…)."""
    points = [p for p in frames["points"].to_pylist() if p["stop_reason"] is not None]
    failed = sum(p["status"] == "failed" for p in frames["points"].to_pylist())
    reasons = sorted({p["stop_reason"] for p in points})
    fig, (ax,) = new_figure(width=max(6.5, 1.6 * len(reasons) + 2.5), height=3.6)
    if not reasons:
        empty_note(ax, "no finished run")
    means = []
    for x, reason in enumerate(reasons):
        mine = [p for p in points if p["stop_reason"] == reason]
        dots = ax.scatter(
            [x + d for d in spread(len(mine), POINTS_AT)],
            [p["iterations"] for p in mine],
            s=18,
            color=colour(x),
            alpha=0.75,
        )
        dots.set_gid(f"stop:{reason}")
        means.append(sum(p["iterations"] for p in mine) / len(mine))
    if reasons:
        (mean,) = ax.plot(
            [x + MEAN_AT for x in range(len(reasons))],
            means,
            linestyle="none",
            marker="D",
            color="#000000",
            markersize=6,
            label="mean",
        )
        mean.set_gid("stop:mean")
        ax.legend(fontsize=7, loc="best")
        _tick_labels(ax, [f"{r} ({sum(p['stop_reason'] == r for p in points)})" for r in reasons])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0, top=max((p["iterations"] for p in points), default=1) + 1)
    ax.set_ylabel("iterations to stop")
    note = f"\n({failed} failed runs not shown)" if failed else ""
    ax.set_title(f"{sweep}: iterations by stop reason{note}", fontsize=10)
    return fig
