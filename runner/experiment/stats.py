"""Small statistics for paired comparisons: Student-t quantiles and mean confidence intervals.

Hand-written (about forty lines) rather than pulling in SciPy for one function: the t CDF is
the regularised incomplete beta function, evaluated by its continued fraction, and the
quantile is found by bisection. Accurate to ~1e-10, far below what acceptance needs.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def _betacf(a: float, b: float, x: float) -> float:
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _reg_inc_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _reg_inc_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (0 < p < 1); cached, as a run asks for few (p, df)."""
    lo, hi = -1e4, 1e4
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def mean_ci(values: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """(mean, sample std, CI low, CI high) of ``values`` with a t interval.

    With fewer than two values the interval is the single point (no spread to estimate).
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    mean = float(x.mean()) if n else 0.0
    if n < 2:
        return mean, 0.0, mean, mean
    sd = float(x.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half
