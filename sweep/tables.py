"""The six tables of a sweep's Parquet dataset: their Arrow schemas and value conventions.

Tables (for users: docs/sweeps.md, "The Parquet dataset"): ``runs`` (one row per run,
written when the run ends), and five tables derived from a run's event stream:
``iterations``, ``proposals``, ``samples``, ``llm_calls`` and ``events`` (the complete
stream, what replay and resume read back). Every table starts with ``sweep`` (the hive
partition key: it lives in the folder name, not inside the files) and ``run_id`` and ends
with ``schema_version``.

Money is int64 cents. Events carry costs as float means (a mean over samples is rarely a
whole cent); `round_cents` rounds them half away from zero — the same as half-up for the
non-negative costs money columns hold. Floats remain only for rates, statistics (mean
delta, standard deviation, CI) and token cost in USD.

The rows a run produces are built in `sweep.table_rows`; `sweep.store` decides where they go.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import pyarrow as pa

from runner.engine.rates import COMPONENTS
from runner.experiment.status import STORED_STATUSES

SCHEMA_VERSION = 2  # 2: llm_calls.call (transport retries had duplicate keys)
RUN_STATUSES = tuple(s.value for s in STORED_STATUSES)  # plain strings, as they are stored
EVENT_TABLES = ("iterations", "proposals", "samples", "llm_calls", "events")
TABLES = ("runs", *EVENT_TABLES)

_S, _I32, _I64, _F64, _B = pa.string(), pa.int32(), pa.int64(), pa.float64(), pa.bool_()
_TS = pa.timestamp("us", tz="UTC")


def _schema(*fields: tuple[str, Any]) -> Any:
    return pa.schema([("sweep", _S), ("run_id", _S), *fields, ("schema_version", _I32)])


AGENT_COST = pa.struct(
    [
        ("agent", _S),
        ("baseline", _I64),
        ("final", _I64),
        ("best", _I64),
        ("best_iteration", _I32),
        ("settlement_rate", _F64),
        ("accepted", _I32),
        ("rejected", _I32),
    ]
)

#: ``runs`` without its ``param_*`` columns (they depend on the sweep; see `runs_schema`).
RUNS_BASE = _schema(
    ("cell_key", _S),
    ("replicate", _I32),
    ("experiment", _S),
    ("scenario", _S),
    ("model", _S),
    ("baseline", _B),
    ("params_json", _S),
    ("status", _S),
    ("error", _S),
    ("attempt", _I32),
    ("started_at", _TS),
    ("finished_at", _TS),
    ("duration_s", _F64),
    ("iterations", _I32),
    ("stop_reason", _S),
    ("converged", _B),
    ("baseline_total_cost", _I64),
    ("final_total_cost", _I64),
    ("best_total_cost", _I64),
    ("agent_costs", pa.list_(AGENT_COST)),
    ("final_settlement_rate", _F64),
    ("final_policies_json", _S),
    ("llm_calls", _I64),
    ("llm_prompt_tokens", _I64),
    ("llm_completion_tokens", _I64),
    ("llm_cost_usd", _F64),
)
_PARAMS_AFTER = "params_json"  # param_* columns follow it, sorted by name

SCHEMAS: dict[str, Any] = {
    "runs": RUNS_BASE,
    "iterations": _schema(
        ("iteration", _I32),
        ("agent", _S),
        ("policy_json", _S),
        ("parameters_json", _S),
        ("reference_cost", _I64),
        *((f"cost_{c}", _I64) for c in COMPONENTS),
        ("settlement_rate", _F64),
        ("accepted_in_iteration", _B),
    ),
    "proposals": _schema(
        ("iteration", _I32),
        ("agent", _S),
        ("proposal_json", _S),
        ("valid", _B),
        ("attempts", _I32),
        ("errors_json", _S),
        ("old_mean_cost", _I64),
        ("new_mean_cost", _I64),
        ("mean_delta", _F64),
        ("std_delta", _F64),
        ("ci_low", _F64),
        ("ci_high", _F64),
        ("n_samples", _I32),
        ("accepted", _B),
        ("reason", _S),
    ),
    "samples": _schema(
        ("iteration", _I32),
        ("agent", _S),
        ("sample", _I32),
        ("seed", _I64),
        ("old_cost", _I64),
        ("new_cost", _I64),
        ("delta", _I64),
    ),
    "llm_calls": _schema(
        ("iteration", _I32),
        ("agent", _S),
        ("call", _I32),
        ("attempt", _I32),
        ("model", _S),
        ("messages_json", _S),
        ("response", _S),
        ("reasoning", _S),
        ("parsed_policy_json", _S),
        ("validation_errors_json", _S),
        ("error", _S),
        ("prompt_tokens", _I64),
        ("completion_tokens", _I64),
        ("cost_usd", _F64),
        ("latency_s", _F64),
    ),
    "events": _schema(("seq", _I64), ("iteration", _I32), ("type", _S), ("payload_json", _S)),
}

#: Deterministic row order of every table (what `ResultStore.read` sorts by).
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("sweep", "run_id"),
    "iterations": ("sweep", "run_id", "iteration", "agent"),
    "proposals": ("sweep", "run_id", "iteration", "agent"),
    "samples": ("sweep", "run_id", "iteration", "agent", "sample"),
    "llm_calls": ("sweep", "run_id", "iteration", "agent", "call"),
    "events": ("sweep", "run_id", "seq"),
}


# ---------------------------------------------------------------------------- value helpers
def round_cents(value: float | None) -> int | None:
    """Whole cents, halves rounded away from zero (``2.5 → 3``; ``None → None``).

    Goes through ``repr`` so that a mean printed as ``1234.5`` rounds as written, not as its
    binary neighbour. Raises `ValueError` for NaN or infinity: a cost is never "not a number".
    """
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError(f"a money amount must be finite, got {value!r}")
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give byte-equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------- the runs row
class RunInfo(Protocol):
    """What `sweep.table_rows.run_row` needs to know about a cell (`sweep.expand.RunSpec` has all of it)."""

    @property
    def run_id(self) -> str: ...
    @property
    def cell_key(self) -> str: ...
    @property
    def replicate(self) -> int: ...
    @property
    def experiment(self) -> str: ...
    @property
    def scenario(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def baseline(self) -> bool: ...
    @property
    def params(self) -> Mapping[str, Any]: ...


def param_column(key: str) -> str:
    """``llm.model`` → ``param_llm__model`` (dots would read as struct access in SQL)."""
    return "param_" + key.replace(".", "__")


def infer_param_types(runs: Iterable[RunInfo], keys: Iterable[str]) -> dict[str, Any]:
    """One Arrow type per varied parameter, from its values over every run of the sweep.

    bool, int64, float64 (ints and floats mixed), else string (non-strings as JSON);
    a key that is never set gets the null type (it unifies with anything).
    """
    runs = list(runs)
    out = {}
    for key in keys:
        values = [r.params[key] for r in runs if r.params.get(key) is not None]
        if not values:
            out[key] = pa.null()
        elif all(isinstance(v, bool) for v in values):
            out[key] = _B
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            out[key] = _I64
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = _F64
        else:
            out[key] = _S
    return out


def runs_schema(param_types: Mapping[str, Any]) -> Any:
    """`RUNS_BASE` with one ``param_*`` column per varied parameter, after ``params_json``."""
    fields = list(RUNS_BASE)
    at = RUNS_BASE.get_field_index(_PARAMS_AFTER) + 1
    params = sorted((pa.field(param_column(k), t) for k, t in param_types.items()), key=lambda f: f.name)
    return pa.schema(fields[:at] + params + fields[at:])
