"""The six tables of a sweep's Parquet dataset: Arrow schemas and the rows a run produces.

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

The functions here are pure: events (or a result) in, `pyarrow.Table` out; `sweep.store`
decides where the rows go.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import pyarrow as pa

from runner.engine.rates import COMPONENTS
from runner.experiment.event_types import DecisionPayload, ProposalPayload, ReferenceCostPayload
from runner.experiment.events import Event, of_type
from runner.experiment.result import ExperimentResult
from runner.experiment.status import STORED_STATUSES
from runner.proposals import LLMInteraction

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


def _json_or_none(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


# ---------------------------------------------------------------------------- event rows
def rows_for_events(sweep: str, events: Sequence[Event]) -> dict[str, Any]:
    """The rows of every event-derived table for ``events`` (one iteration or a whole run).

    Args:
        sweep: the sweep name (the ``sweep`` column).
        events: a run's events, in emission order.

    Returns:
        ``{table: pyarrow.Table}`` for each name in `EVENT_TABLES` (empty tables included, so
        that a rewritten part always replaces what an earlier attempt wrote).
    """
    decisions = {(e.iteration, d.agent): d for e, d in of_type(events, DecisionPayload)}
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in EVENT_TABLES}
    calls: dict[tuple[int, str], int] = {}  # HTTP calls so far per (iteration, agent)
    for e in events:
        key = {"sweep": sweep, "run_id": e.run_id, "iteration": e.iteration, "schema_version": SCHEMA_VERSION}
        stored = e.to_dict()
        rows["events"].append(
            {**key, "seq": e.seq, "type": stored["type"], "payload_json": canonical_json(stored["payload"])}
        )
        p = e.payload
        if isinstance(p, ReferenceCostPayload):
            rows["iterations"].extend(_iteration_rows(key, p, decisions, e.iteration))
        elif isinstance(p, ProposalPayload):
            rows["proposals"].append(_proposal_row(key, p, decisions.get((e.iteration, p.agent))))
        elif isinstance(p, DecisionPayload):
            rows["samples"].extend(_sample_rows(key, p))
        elif isinstance(p, LLMInteraction):
            # ``attempt`` counts re-asks; transport retries repeat it, ``call`` tells them apart
            who = (e.iteration, p.agent_id)
            calls[who] = calls.get(who, 0) + 1
            rows["llm_calls"].append({**_llm_row(key, p), "call": calls[who]})
    return {t: pa.Table.from_pylist(rows[t], schema=SCHEMAS[t]) for t in EVENT_TABLES}


def _iteration_rows(
    key: dict[str, Any], p: ReferenceCostPayload, decisions: Mapping[tuple[int, str], DecisionPayload], it: int
) -> list[dict[str, Any]]:
    components = p.components or {}  # absent from streams recorded before it existed
    out = []
    for agent, cost in p.costs.items():
        comp = components.get(agent, {})
        d = decisions.get((it, agent))
        out.append(
            {
                **key,
                "agent": agent,
                "policy_json": _json_or_none(p.policies.get(agent)),
                "parameters_json": _json_or_none(p.parameters.get(agent)),
                "reference_cost": round_cents(cost),
                **{f"cost_{c}": round_cents(comp.get(c)) for c in COMPONENTS},
                "settlement_rate": p.settlement.get(agent),
                "accepted_in_iteration": bool(d and d.accepted),
            }
        )
    return out


def _proposal_row(key: dict[str, Any], p: ProposalPayload, d: DecisionPayload | None) -> dict[str, Any]:
    if d is not None:
        reason: str | None = d.reason
    elif p.proposal is None:  # the loop's wording for its history (loop.optimize_agent)
        reason = "no valid proposal: " + "; ".join(p.errors)[:300]
    else:
        reason = None  # a valid proposal with no decision event (streams from before "cannot run")
    return {
        **key,
        "agent": p.agent,
        "proposal_json": _json_or_none(p.proposal),
        "valid": p.valid,
        "attempts": p.attempts,
        "errors_json": canonical_json(p.errors),
        "old_mean_cost": round_cents(d.old_mean) if d else None,
        "new_mean_cost": round_cents(d.new_mean) if d else None,
        "mean_delta": d.mean_delta if d else None,
        "std_delta": d.std_delta if d else None,
        "ci_low": d.ci_low if d else None,
        "ci_high": d.ci_high if d else None,
        "n_samples": d.n if d else None,
        "accepted": bool(d and d.accepted),
        "reason": reason,
    }


def _sample_rows(key: dict[str, Any], p: DecisionPayload) -> list[dict[str, Any]]:
    old, new = p.old_costs or (), p.new_costs or ()  # none when it could not run
    seeds = p.seeds or (None,) * len(old)
    deltas = p.deltas or tuple(o - n for o, n in zip(old, new, strict=True))
    return [
        {**key, "agent": p.agent, "sample": k, "seed": s, "old_cost": o, "new_cost": n, "delta": dl}
        for k, (s, o, n, dl) in enumerate(zip(seeds, old, new, deltas, strict=True))
    ]


def _llm_row(key: dict[str, Any], p: LLMInteraction) -> dict[str, Any]:
    return {
        **key,
        "agent": p.agent_id,
        "attempt": p.attempt,
        "model": p.model,
        "messages_json": canonical_json(p.messages),
        "response": p.raw_response,
        "reasoning": p.reasoning,
        "parsed_policy_json": _json_or_none(p.parsed_policy),
        "validation_errors_json": canonical_json(p.validation_errors),
        "error": p.error,
        "prompt_tokens": p.prompt_tokens,
        "completion_tokens": p.completion_tokens,
        "cost_usd": p.cost_usd,
        "latency_s": p.latency_seconds,
    }


# ---------------------------------------------------------------------------- the runs row
class RunInfo(Protocol):
    """What `run_row` needs to know about a cell (`sweep.expand.RunSpec` has all of it)."""

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


def _param_value(value: Any, arrow_type: Any) -> Any:
    if value is None or pa.types.is_null(arrow_type):
        return None
    if pa.types.is_string(arrow_type):
        return value if isinstance(value, str) else canonical_json(value)
    return value


def _utc(when: datetime | None, name: str) -> datetime | None:
    if when is not None and when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)), got {when!r}")
    return None if when is None else when.astimezone(timezone.utc)


def _result_columns(r: ExperimentResult) -> dict[str, Any]:
    agents = [
        {
            "agent": a,
            "baseline": round_cents(o.baseline_cost),
            "final": round_cents(o.final_cost),
            "best": round_cents(o.best_cost),
            "best_iteration": o.best_iteration,
            "settlement_rate": o.final_settlement_rate,
            "accepted": o.accepted,
            "rejected": o.rejected,
        }
        for a, o in r.agents.items()
    ]
    rates = [o.final_settlement_rate for o in r.agents.values()]
    return {
        "iterations": r.iterations,
        "stop_reason": r.stop_reason,
        "converged": r.converged,
        "baseline_total_cost": round_cents(r.baseline_total),
        "final_total_cost": round_cents(r.final_total),
        "best_total_cost": round_cents(r.best_total),
        "agent_costs": agents,
        "final_settlement_rate": sum(rates) / len(rates) if rates else None,
        "final_policies_json": canonical_json(r.final_policies),
        "llm_calls": r.llm.calls,
        "llm_prompt_tokens": r.llm.prompt_tokens,
        "llm_completion_tokens": r.llm.completion_tokens,
        "llm_cost_usd": r.llm.cost_usd,
    }


def run_row(
    sweep: str,
    run: RunInfo,
    result: ExperimentResult | None,
    status: str,
    error: str | None,
    started: datetime | None,
    finished: datetime | None,
    attempt: int,
    param_keys: Sequence[str] | Mapping[str, Any],
) -> Any:
    """The ``runs`` row of one run, as a one-row `pyarrow.Table`.

    Args:
        result: None for a run that failed (its outcome columns are then null).
        status: one of `RUN_STATUSES`.
        started, finished: timezone-aware; ``duration_s`` is their difference when both are
            given, else the result's own duration.
        param_keys: the sweep's varied keys; better, ``{key: arrow type}`` from
            `infer_param_types` over all runs, so every run of a sweep types a parameter alike
            (from a plain list each run types its own value: ``1`` and ``2.5`` then read back
            as float64 only through `ResultStore.read`).

    Example:
        >>> run_row("s", spec, result, "done", None, t0, t1, 1, ["llm.model"])  # doctest: +SKIP
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
    types = dict(param_keys) if isinstance(param_keys, Mapping) else infer_param_types([run], param_keys)
    started_utc, finished_utc = _utc(started, "started"), _utc(finished, "finished")
    duration = (
        (finished_utc - started_utc).total_seconds()
        if started_utc and finished_utc
        else result.duration_seconds
        if result is not None
        else None
    )
    row: dict[str, Any] = {
        "sweep": sweep,
        "run_id": run.run_id,
        "cell_key": run.cell_key,
        "replicate": run.replicate,
        "experiment": run.experiment,
        "scenario": run.scenario,
        "model": run.model,
        "baseline": bool(run.baseline),
        "params_json": canonical_json(dict(run.params)),
        **{param_column(k): _param_value(run.params.get(k), t) for k, t in types.items()},
        "status": status,
        "error": error,
        "attempt": attempt,
        "started_at": started_utc,
        "finished_at": finished_utc,
        "duration_s": duration,
        **(_result_columns(result) if result is not None else {}),
        "schema_version": SCHEMA_VERSION,
    }
    return pa.Table.from_pylist([row], schema=runs_schema(types))
