"""Exact per-lane sums (the batch engine adds amounts, weights and penalties per lane)."""

from __future__ import annotations

import numpy as np

from runner.engine.batch_state import FLOAT_EXACT


def lane_sum(lanes: np.ndarray, values: np.ndarray, size: int, exact: bool = False) -> np.ndarray:
    """Exact int64 sums of ``values`` per lane (``size`` lanes).

    ``exact`` asserts that ``sum(|values|) < 2**53`` (callers know a bound); otherwise it is
    checked here.
    """
    if values.size == 0:
        return np.zeros(size, dtype=np.int64)
    # bincount adds in float64: exact when every partial sum is an integer below 2**53
    if exact or int(np.abs(values).max()) * values.size < FLOAT_EXACT:
        return np.bincount(lanes, weights=values, minlength=size).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, lanes, values)
    return out
