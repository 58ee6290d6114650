"""The rows a run produces in a sweep's tables (their schemas: `sweep.tables`).

Pure functions: a run's events (or its result) in, `pyarrow.Table` out; `sweep.store`
decides where the rows go. Money columns are whole cents (`sweep.tables.round_cents`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from runner.engine.rates import COMPONENTS
from runner.experiment.event_types import DecisionPayload, ProposalPayload, ReferenceCostPayload
from runner.experiment.events import Event, of_type
from runner.experiment.result import ExperimentResult
from runner.proposals import LLMInteraction
from sweep.tables import (
    EVENT_TABLES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    SCHEMAS,
    RunInfo,
    canonical_json,
    infer_param_types,
    param_column,
    round_cents,
    runs_schema,
)


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
