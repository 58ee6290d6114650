"""The data of a sweep's LLM figure: calls, tokens, spend and latency per model.

From the ``llm_calls`` table (one row per HTTP call, failed runs' calls included: the money
was spent). ``calls`` counts every call, ``errors`` those that returned no answer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pyarrow as pa

MODELS = pa.schema(
    [
        ("model", pa.string()),
        ("calls", pa.int64()),
        ("errors", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("latency_mean_s", pa.float64()),
        ("latency_p50_s", pa.float64()),
        ("latency_p95_s", pa.float64()),
    ]
)
LATENCIES = pa.schema([("model", pa.string()), ("latency_s", pa.float64())])
_COLUMNS = ["model", "error", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s"]


def quantile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` quantile with linear interpolation (numpy's default) of sorted values."""
    if not sorted_values:
        return None
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def llm_frames(calls: Any) -> dict[str, Any]:
    """``{"models": one row per model, "latencies": one row per call with a latency}``.

    Args:
        calls: the sweep's ``llm_calls`` rows (empty for a sweep without LLM models).
    """
    per: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "latencies": []}
    )
    for r in calls.select(_COLUMNS).to_pylist():
        m = per[str(r["model"])]
        m["calls"] += 1
        m["errors"] += r["error"] is not None
        m["prompt_tokens"] += r["prompt_tokens"] or 0
        m["completion_tokens"] += r["completion_tokens"] or 0
        m["cost_usd"] += r["cost_usd"] or 0.0
        if r["latency_s"] is not None and math.isfinite(r["latency_s"]):
            m["latencies"].append(float(r["latency_s"]))
    models, latencies = [], []
    for model in sorted(per):
        m = per[model]
        lat = sorted(m.pop("latencies"))
        models.append(
            {
                "model": model,
                **m,
                "latency_mean_s": sum(lat) / len(lat) if lat else None,
                "latency_p50_s": quantile(lat, 0.5),
                "latency_p95_s": quantile(lat, 0.95),
            }
        )
        latencies += [{"model": model, "latency_s": v} for v in lat]
    return {
        "models": pa.Table.from_pylist(models, schema=MODELS),
        "latencies": pa.Table.from_pylist(latencies, schema=LATENCIES),
    }
