"""Figure creation, colours, money formatting and saving, shared by every drawing module.

Figures are `matplotlib.figure.Figure` objects with an Agg canvas attached: no pyplot, so no
global figure registry to leak memory across thousands of figures and no GUI backend to pick.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from runner.errors import ConfigError

FORMATS = ("png", "svg", "pdf")
DPI = 100
ACCEPTED, REJECTED, INVALID = "#2ca02c", "#d62728", "#7f7f7f"
BASELINE = "#555555"
# tab10 without green and red (they mean accepted / rejected here) and grey (invalid)
SERIES = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
# Stable matplotlib output: no creation date in SVG/PDF, fixed hash salt for SVG ids.
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}


def new_figure(
    rows: int = 1, cols: int = 1, *, width: float = 8.0, height: float = 4.0, sharex: bool = False
) -> tuple[Figure, list[Any]]:
    """A figure with ``rows × cols`` axes (returned flat, row by row) on an Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=sharex, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def colour(index: int) -> str:
    return SERIES[index % len(SERIES)]


def dollars_axis(ax: Any, axis: str = "y") -> None:
    """Label ``ax``'s ``axis`` in dollars (the data are dollars already)."""
    fmt = FuncFormatter(lambda v, _pos: f"-${-v:,.0f}" if v < 0 else f"${v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def to_dollars(cents: Sequence[float | int | None]) -> list[float]:
    """Cents → dollars for plotting (None → NaN: a gap, not a zero)."""
    return [float("nan") if c is None else float(c) / 100.0 for c in cents]


def empty_note(ax: Any, text: str) -> None:
    """Say on the axes why there is nothing to draw (an empty plot would look like a bug)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=INVALID)
    ax.set_xticks([])
    ax.set_yticks([])


def check_format(fmt: str, where: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"must be one of {', '.join(FORMATS)}, got {fmt!r}", path=where)
    return fmt


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """The figure encoded as ``fmt`` (png, svg or pdf), without timestamps."""
    out = io.BytesIO()
    with rc_context({"svg.hashsalt": "paylab"}):
        fig.savefig(out, format=check_format(fmt, "format"), dpi=DPI, metadata=_METADATA.get(fmt))
    return out.getvalue()


def save_figure(fig: Figure, path: Path, fmt: str) -> Path:
    """Write ``fig`` to ``path`` through a temporary name (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(figure_bytes(fig, fmt))
    tmp.replace(path)
    return path
