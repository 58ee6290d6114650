"""Draw one simulated day: balances, queue sizes and cumulative cost per bank, LSM marked.

Gids: ``balance:<agent>``, ``queue1:<agent>``, ``queue2:<agent>``, ``cost:<agent>`` (lines),
``lsm`` (the liquidity-saving events, one vertical line each on every panel, and their
markers on the balance panel).
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from sweep.plots.style import colour, dollars_axis, empty_note, new_figure, to_dollars

LSM_COLOUR = "#d62728"


def draw_day(title: str, frames: dict[str, Any], ticks_per_day: int) -> Figure:
    """Three panels sharing the tick axis; day boundaries dotted, LSM events in red."""
    fig, (bal, queue, cost) = new_figure(3, 1, width=9.0, height=7.5, sharex=True)
    rows = frames["ticks"].to_pylist()
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    for k, agent in enumerate(agents):
        mine = [r for r in rows if r["agent"] == agent]
        ticks = [r["tick"] for r in mine]
        for ax, key, kw in (
            (bal, "balance", {}),
            (queue, "queue1", {}),
            (queue, "queue2", {"linestyle": "--"}),
            (cost, "cumulative_cost", {}),
        ):
            values = to_dollars([r[key] for r in mine]) if ax is not queue else [r[key] for r in mine]
            label = agent if key != "queue2" else f"_{agent} (Queue 2)"  # "_": not in the legend
            (line,) = ax.plot(ticks, values, color=colour(k), drawstyle="steps-post", label=label, **kw)
            line.set_gid(f"{'cost' if key == 'cumulative_cost' else key}:{agent}")
    if not rows:
        empty_note(bal, "no ticks simulated")
    marks = frames["lsm"].to_pylist()
    if marks:
        lsm_ticks = sorted({m["tick"] for m in marks})
        for ax in (bal, queue, cost):
            lines = ax.vlines(
                lsm_ticks, 0, 1, transform=ax.get_xaxis_transform(), color=LSM_COLOUR, linewidth=0.8, alpha=0.35
            )
            lines.set_gid("lsm")
        dots = bal.scatter(
            lsm_ticks,
            [0.97] * len(lsm_ticks),
            transform=bal.get_xaxis_transform(),
            marker="v",
            color=LSM_COLOUR,
            s=22,
            label=f"LSM settlement ({len(marks)})",
        )
        dots.set_gid("lsm")
    horizon = max((r["tick"] for r in rows), default=0) + 1
    for day_start in range(ticks_per_day, horizon, ticks_per_day):
        for ax in (bal, queue, cost):
            ax.axvline(day_start - 0.5, color="#999999", linestyle=":", linewidth=0.8)
    bal.set_title(title, fontsize=10)
    bal.set_ylabel("balance (end of tick)")
    queue.set_ylabel("payments queued\n(solid: bank, dashed: RTGS)")
    cost.set_ylabel("cumulative cost")
    cost.set_xlabel("tick")
    for ax in (bal, cost):
        dollars_axis(ax)
    for ax in (bal, queue, cost):
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    return fig
