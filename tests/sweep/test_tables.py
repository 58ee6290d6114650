"""Rows from a real run's events (`rows_for_events`), the runs row, and `StoreSink` end to end."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from runner.engine.rates import COMPONENTS
from runner.experiment.event_types import DecisionPayload, EventPayload, ProposalPayload, ReferenceCostPayload
from runner.experiment.events import Event
from runner.experiment.result import ExperimentResult
from runner.experiment.runner import GenericExperimentRunner
from runner.proposals import LLMInteraction
from sweep.sink import StoreSink
from sweep.store import ParquetStore
from sweep.table_rows import rows_for_events, run_row
from sweep.tables import (
    EVENT_TABLES,
    SCHEMAS,
    SORT_KEYS,
    TABLES,
    infer_param_types,
    round_cents,
)
from tests.helpers import RecordingSink
from tests.sweep.helpers_store import RUN_ID, Cell, exp1_config, run_exp1

SWEEP = "castro_models"
AGENTS = ["BANK_A", "BANK_B"]
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def exp1() -> tuple[list[Event], ExperimentResult]:
    return run_exp1()


@pytest.fixture(scope="module")
def rows(exp1: Any) -> dict[str, list[dict[str, Any]]]:
    tables = rows_for_events(SWEEP, exp1[0])
    return {t: tables[t].to_pylist() for t in EVENT_TABLES}


def event(seq: int, iteration: int, payload: EventPayload) -> Event:
    return Event(seq, RUN_ID, iteration, payload)


# ---------------------------------------------------------------------------- rows of a real run
def test_every_event_becomes_one_events_row(exp1: Any, rows: Any) -> None:
    events, _ = exp1
    assert [r["seq"] for r in rows["events"]] == [e.seq for e in events]
    assert [r["type"] for r in rows["events"]] == [e.type for e in events]
    assert rows["events"][0]["payload_json"].startswith('{"agents":["BANK_A","BANK_B"]')
    assert all(r["sweep"] == SWEEP and r["run_id"] == RUN_ID for r in rows["events"])


def test_iterations_rows_run_from_the_baseline_to_the_last_iteration(rows: Any) -> None:
    got = [(r["iteration"], r["agent"]) for r in rows["iterations"]]
    assert got == [(it, a) for it in range(4) for a in AGENTS]
    costs = [r["reference_cost"] for r in rows["iterations"] if r["agent"] == "BANK_A"]
    assert costs == [5000, 4000, 3000, 2000]  # exp1's coordinate search, 0.1 of the pool a step
    first = rows["iterations"][0]
    assert first["cost_liquidity_opportunity"] == 5000 and first["cost_delay"] == 0
    assert first["parameters_json"] == '{"initial_liquidity_fraction":0.5}'
    assert first["settlement_rate"] == 1.0
    accepted = [r["accepted_in_iteration"] for r in rows["iterations"]]
    assert accepted == [False, False] + [True] * 6


def test_one_proposals_row_per_agent_per_iteration(rows: Any) -> None:
    got = [(r["iteration"], r["agent"]) for r in rows["proposals"]]
    assert got == [(it, a) for it in range(1, 4) for a in AGENTS]
    first = rows["proposals"][0]
    assert (first["old_mean_cost"], first["new_mean_cost"]) == (5000, 4000)
    assert first["mean_delta"] == 1000.0 and first["accepted"] and first["valid"]
    assert first["n_samples"] == 1 and first["reason"].startswith("mean delta")
    assert first["errors_json"] == "[]"
    assert '"initial_liquidity_fraction":0.4' in first["proposal_json"]


def test_samples_delta_is_old_minus_new(rows: Any) -> None:
    assert len(rows["samples"]) == 6  # deterministic: one sample per decision
    for r in rows["samples"]:
        assert r["delta"] == r["old_cost"] - r["new_cost"]
        assert r["sample"] == 0 and isinstance(r["seed"], int)


def test_a_builtin_proposer_makes_no_llm_calls(rows: Any) -> None:
    assert rows["llm_calls"] == []


def test_tables_match_their_schemas(exp1: Any) -> None:
    for table, data in rows_for_events(SWEEP, exp1[0]).items():
        assert data.schema == SCHEMAS[table]


# ---------------------------------------------------------------------------- edge cases
def test_llm_interactions_become_llm_calls_rows() -> None:
    call = LLMInteraction(
        "BANK_A",
        1,
        2,
        "openai/gpt-4.1",
        ({"role": "user", "content": "hi"},),
        "raw",
        "because",
        None,
        ("bad field",),
        None,
        120,
        30,
        None,
        1.5,
    )
    got = rows_for_events(SWEEP, [event(5, 1, call)])["llm_calls"]
    row = got.to_pylist()[0]
    assert (row["iteration"], row["agent"], row["attempt"], row["model"]) == (1, "BANK_A", 2, "openai/gpt-4.1")
    assert row["messages_json"] == '[{"content":"hi","role":"user"}]'
    assert row["validation_errors_json"] == '["bad field"]'
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (120, 30, None)
    assert row["latency_s"] == 1.5 and row["response"] == "raw"
    assert row["parsed_policy_json"] is None


def test_transport_retries_get_their_own_llm_calls_key() -> None:
    """A 429 then a success within one attempt, then a re-ask: three rows, three keys."""

    def call(agent: str, attempt: int, error: str | None) -> LLMInteraction:
        return LLMInteraction(
            agent,
            3,
            attempt,
            "openai/gpt-4.1",
            (),
            None if error else "{}",
            None,
            None,
            (),
            error,
            None,
            None,
            None,
            0.1,
        )

    events = [
        event(1, 3, call("BANK_A", 1, "RateLimitError")),
        event(2, 3, call("BANK_A", 1, None)),
        event(3, 3, call("BANK_A", 2, None)),
        event(4, 3, call("BANK_B", 1, None)),
    ]
    rows = rows_for_events(SWEEP, events)["llm_calls"].to_pylist()
    keys = [tuple(r[k] for k in SORT_KEYS["llm_calls"]) for r in rows]
    assert len(set(keys)) == len(keys) == 4
    assert [(r["agent"], r["call"], r["attempt"], r["error"]) for r in rows] == [
        ("BANK_A", 1, 1, "RateLimitError"),
        ("BANK_A", 2, 1, None),
        ("BANK_A", 3, 2, None),
        ("BANK_B", 1, 1, None),
    ]


def test_proposals_without_a_decision_with_statistics() -> None:
    events = [
        event(1, 1, ProposalPayload("BANK_A", valid=False, attempts=3, errors=("e1", "e2"), proposal=None, policy={})),
        event(2, 1, ProposalPayload("BANK_B", True, 1, errors=(), proposal={"parameters": {"x": 1}}, policy={})),
        event(
            3,
            1,
            DecisionPayload(
                agent="BANK_B",
                accepted=False,
                reason="cannot run: bad tree",
                n=0,
                policy={},
                proposal={"parameters": {"x": 1}},
            ),
        ),
    ]
    tables = rows_for_events(SWEEP, events)
    invalid, cannot_run = tables["proposals"].to_pylist()
    assert invalid["reason"] == "no valid proposal: e1; e2" and invalid["proposal_json"] is None
    assert invalid["old_mean_cost"] is None and not invalid["accepted"]
    assert cannot_run["reason"] == "cannot run: bad tree"
    assert cannot_run["old_mean_cost"] is None and cannot_run["mean_delta"] is None
    assert tables["samples"].num_rows == 0


def test_reference_costs_without_components_leave_the_breakdown_null() -> None:
    ref = event(
        1,
        0,
        ReferenceCostPayload(
            costs={"BANK_A": 1234.5},
            total=1234.5,
            n=2,
            settlement={"BANK_A": 0.5},
            parameters={"BANK_A": {}},
            policies={"BANK_A": {}},
        ),
    )
    row = rows_for_events(SWEEP, [ref])["iterations"].to_pylist()[0]
    assert row["reference_cost"] == 1235
    assert all(row[f"cost_{c}"] is None for c in COMPONENTS)


def test_round_cents() -> None:
    assert [round_cents(x) for x in (2.5, 3.5, 2.4999, 0.5, -2.5, 1e12 + 0.5)] == [3, 4, 2, 1, -3, 10**12 + 1]
    assert round_cents(None) is None and round_cents(7) == 7
    with pytest.raises(ValueError, match="finite"):
        round_cents(math.nan)


# ---------------------------------------------------------------------------- the runs row
def test_run_row_types_each_varied_parameter(exp1: Any) -> None:
    cell = Cell(params={"llm.model": "m", "master_seed": 3, "a.rate": 0.2, "a.on": True, "a.list": [1, 2]})
    table = run_row(SWEEP, cell, exp1[1], "done", None, T0, T0 + timedelta(seconds=90), 2, sorted(cell.params))
    schema = table.schema
    assert schema.field("param_llm__model").type == pa.string()
    assert schema.field("param_master_seed").type == pa.int64()
    assert schema.field("param_a__rate").type == pa.float64()
    assert schema.field("param_a__on").type == pa.bool_()
    row = table.to_pylist()[0]
    assert row["param_a__list"] == "[1,2]" and row["duration_s"] == 90.0
    assert row["params_json"] == ('{"a.list":[1,2],"a.on":true,"a.rate":0.2,"llm.model":"m","master_seed":3}')
    assert (row["baseline_total_cost"], row["final_total_cost"], row["best_total_cost"]) == (10000, 4000, 4000)
    assert row["agent_costs"][0] == {
        "agent": "BANK_A",
        "baseline": 5000,
        "final": 2000,
        "best": 2000,
        "best_iteration": 3,
        "settlement_rate": 1.0,
        "accepted": 3,
        "rejected": 0,
    }
    assert row["final_settlement_rate"] == 1.0 and row["llm_cost_usd"] is None
    assert row["attempt"] == 2 and row["iterations"] == 3 and row["stop_reason"] == "max_iterations"


def test_a_failed_run_row_has_null_outcomes() -> None:
    row = run_row(SWEEP, Cell(), None, "failed", "SimulationError: boom", T0, None, 1, [])
    got = row.to_pylist()[0]
    assert got["status"] == "failed" and got["error"] == "SimulationError: boom"
    assert got["final_total_cost"] is None and got["agent_costs"] is None
    assert got["duration_s"] is None and got["finished_at"] is None
    assert row.schema.field("final_total_cost").type == pa.int64()


def test_run_row_rejects_naive_times_and_unknown_statuses() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run_row(SWEEP, Cell(), None, "failed", None, datetime(2025, 1, 1), None, 1, [])
    with pytest.raises(ValueError, match="status must be one of"):
        run_row(SWEEP, Cell(), None, "crashed", None, None, None, 1, [])


def test_param_types_over_the_whole_sweep() -> None:
    cells = [Cell(params={"x": 1, "y": "a", "z": None}), Cell(params={"x": 2.5, "y": 3})]
    types = infer_param_types(cells, ["x", "y", "z"])
    assert types == {"x": pa.float64(), "y": pa.string(), "z": pa.null()}
    row = run_row(SWEEP, cells[0], None, "pending", None, None, None, 0, types).to_pylist()[0]
    assert (row["param_x"], row["param_y"], row["param_z"]) == (1.0, "a", None)


# ---------------------------------------------------------------------------- StoreSink
def test_store_sink_end_to_end_into_parquet(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path / "out"))
    collector = RecordingSink()
    GenericExperimentRunner(exp1_config(), run_id=RUN_ID, sinks=[collector, StoreSink(store, SWEEP, RUN_ID)]).run()
    parts = sorted(p.name for p in (tmp_path / "out" / "events" / f"sweep={SWEEP}").iterdir())
    assert parts == [f"{RUN_ID}~{p}.parquet" for p in ("final", "it-00000", "it-00001", "it-00002", "it-00003")]
    expected = rows_for_events(SWEEP, collector.events)
    store.compact(SWEEP, RUN_ID)
    for table in EVENT_TABLES:
        want = expected[table].sort_by([(k, "ascending") for k in SORT_KEYS[table]])
        assert store.read(table).equals(want), table
    assert store.events_for(SWEEP, RUN_ID) == collector.events
    assert store.last_complete_iteration(SWEEP, RUN_ID) == 3
    assert set(TABLES) - set(EVENT_TABLES) == {"runs"}


def test_an_interrupted_run_keeps_its_complete_iterations(exp1: Any, tmp_path: Path) -> None:
    events, _ = exp1
    store = ParquetStore(f"file://{tmp_path}/out")
    sink = StoreSink(store, SWEEP, RUN_ID)
    cut = next(i for i, e in enumerate(events) if e.iteration == 2 and e.type == "decision")
    for e in events[:cut]:  # the process dies in the middle of iteration 2
        sink.handle(e)
    assert store.last_complete_iteration(SWEEP, RUN_ID) == 1
    stored = store.events_for(SWEEP, RUN_ID)
    assert stored == [e for e in events if e.iteration <= 1]
    assert {r["iteration"] for r in store.read("proposals").to_pylist()} == {1}
