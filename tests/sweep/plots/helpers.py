"""Reading a drawn figure back: artists by gid, their data, and a non-blank check of the image."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sweep.plots.style import figure_bytes


def artists(fig: Figure, gid: str) -> list[Any]:
    """Every artist of ``fig`` whose gid is ``gid``."""
    return list(fig.findobj(lambda a: a.get_gid() == gid))


def gids(fig: Figure, prefix: str) -> set[str]:
    return {str(a.get_gid()) for a in fig.findobj(lambda a: str(a.get_gid() or "").startswith(prefix))}


def line_xy(fig: Figure, gid: str) -> tuple[list[float], list[float]]:
    """The data of the one line with gid ``gid``."""
    (line,) = [a for a in artists(fig, gid) if isinstance(a, Line2D)]
    return [float(x) for x in line.get_xdata()], [float(y) for y in line.get_ydata()]


def points(fig: Figure, gid: str) -> list[tuple[float, float]]:
    """The (x, y) offsets of the one marker collection with gid ``gid``."""
    (coll,) = [a for a in artists(fig, gid) if isinstance(a, Collection)]
    return [(float(x), float(y)) for x, y in coll.get_offsets()]


def segments(fig: Figure, gid: str) -> list[tuple[float, float, float]]:
    """Vertical segments (x, y low, y high) of the one line collection with gid ``gid``."""
    (coll,) = [a for a in artists(fig, gid) if isinstance(a, Collection)]
    return [(float(s[0][0]), float(min(s[0][1], s[1][1])), float(max(s[0][1], s[1][1]))) for s in coll.get_segments()]


def bar_height(fig: Figure, gid: str) -> float:
    (bar,) = [a for a in artists(fig, gid) if isinstance(a, Patch)]
    return float(bar.get_height())


def assert_not_blank(fig: Figure) -> None:
    """The rendered PNG is not one flat colour, and a good part of it is drawn on."""
    pixels = imread(io.BytesIO(figure_bytes(fig, "png")))[..., :3]
    assert pixels.std() > 0.02, "the image is (nearly) one colour"
    drawn = (np.abs(pixels - 1.0).sum(axis=2) > 0.1).mean()  # not white
    assert drawn > 0.01, f"only {drawn:.2%} of the image is drawn on"


def dollars(cents: float | None) -> float:
    return float("nan") if cents is None else cents / 100.0
