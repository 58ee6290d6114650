"""Typed events: every type round-trips through JSON, streams written before the typed
records still read to the byte, and a stream that does not match them is refused with the
file, the line and the field named."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import types
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import EventStreamError
from runner.experiment.event_types import EVENT_PAYLOADS, EVENT_TYPES, IterationStartPayload, type_name
from runner.experiment.events import Event, LiveStateProvider, read_events
from sweep.store import MemoryStore
from sweep.table_rows import rows_for_events
from tests.runner.experiment.support import paylab_in_process

DATA = Path(__file__).parents[2] / "data" / "events"
# Streams written by main at 1009a48 (before the typed records): an LLM-scripted exp2 run
# (llm_interaction with and without notes, invalid proposals, "cannot run" decisions) and
# exp1's coordinate search to convergence. Next to each: `paylab replay -vvv --audit` of it
# as main printed it.
STREAMS = ("scripted_llm", "exp1_converged")
# sha256 (first 16 hex) of each event table's rows (canonical JSON lines), as main built them.
MAIN_TABLES = {
    "scripted_llm": {
        "iterations": "4f65703dab4fb3e4",
        "proposals": "323f9ef3b98d9eea",
        "samples": "d6f564a6133321da",
        "llm_calls": "a9910755bd3697a0",
        "events": "64a3d72e2774a14d",
    },
    "exp1_converged": {
        "iterations": "724d5231bec26de9",
        "proposals": "362a1d9d45a31848",
        "samples": "2dc668f60da53c8b",
        "llm_calls": "e3b0c44298fc1c14",
        "events": "114457f73f117d2f",
    },
}


# ----------------------------------------------------------------------------- strategies
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values of annotation ``tp`` as the records hold them (tuples for lists, dicts for maps)."""
    origin = get_origin(tp)
    if tp is Any:
        return JSON_VALUES
    if origin is Union or origin is types.UnionType:
        return st.one_of([strategy_for(t) for t in get_args(tp)])
    if tp is type(None):
        return st.none()
    if origin is tuple:
        return st.lists(strategy_for(get_args(tp)[0]), max_size=4).map(tuple)
    if origin in (dict, Mapping):
        return st.dictionaries(st.text(max_size=8), strategy_for(get_args(tp)[1]), max_size=3)
    if dataclasses.is_dataclass(tp):
        return record_strategy(tp)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    scalars: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        int: st.integers(),
        # a float field may hold an int (JSON wrote ``5``): both must survive
        float: st.floats(allow_nan=False) | st.integers(),
        str: st.text(),
    }
    return scalars[tp]


def record_strategy(cls: Any) -> st.SearchStrategy[Any]:
    hints = get_type_hints(cls)
    return st.builds(cls, **{f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)})


EVENTS = st.sampled_from(EVENT_TYPES).flatmap(
    lambda name: st.builds(
        Event, st.integers(0, 10**6), st.text(max_size=20), st.integers(0, 1000), record_strategy(EVENT_PAYLOADS[name])
    )
)


# ----------------------------------------------------------------------------- round trips
@settings(max_examples=400, deadline=None)
@given(EVENTS)
def test_every_event_type_round_trips_through_json(event: Event) -> None:
    text = json.dumps(event.to_dict(), sort_keys=True)
    back = Event.from_dict(json.loads(text))
    assert back == event
    assert json.dumps(back.to_dict(), sort_keys=True) == text  # the same bytes when written again
    assert back.type == event.type == type_name(type(event.payload))


def test_every_event_type_has_a_record() -> None:
    assert set(EVENT_TYPES) == set(EVENT_PAYLOADS)
    assert {type_name(cls) for cls in EVENT_PAYLOADS.values()} == set(EVENT_TYPES)
    for cls in EVENT_PAYLOADS.values():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", STREAMS)
def test_streams_written_before_the_typed_records_read_to_the_byte(name: str, tmp_path: Path) -> None:
    path = DATA / f"{name}.jsonl"
    events = read_events(path)
    assert "".join(json.dumps(e.to_dict(), sort_keys=True) + "\n" for e in events) == path.read_text()

    tables = rows_for_events("s", events)
    got = {
        t: hashlib.sha256("\n".join(json.dumps(r, sort_keys=True) for r in tab.to_pylist()).encode()).hexdigest()[:16]
        for t, tab in tables.items()
    }
    assert got == MAIN_TABLES[name]

    (tmp_path / name).mkdir()
    shutil.copy(path, tmp_path / name / "events.jsonl")
    code, out, err = paylab_in_process("replay", name, "--out", tmp_path, "-vvv", "--audit")
    assert (code, err) == (0, "")
    assert out == (DATA / f"{name}.replay.txt").read_text()


def test_the_stored_streams_cover_every_event_type() -> None:
    seen = {e.type for name in STREAMS for e in read_events(DATA / f"{name}.jsonl")}
    assert seen == set(EVENT_TYPES)


# ----------------------------------------------------------------------------- bad streams
GOOD = json.dumps(Event(0, "r", 1, IterationStartPayload()).to_dict(), sort_keys=True)
DECISION = next(  # a decision with its statistics
    line
    for line in (DATA / "scripted_llm.jsonl").read_text().splitlines()
    if json.loads(line)["type"] == "decision" and json.loads(line)["payload"]["n"] > 0
)


def _with(line: str, **changes: Any) -> str:
    d = json.loads(line)
    payload = {**d["payload"], **changes.pop("payload", {})}
    for key in changes.pop("drop", ()):
        payload.pop(key)
    return json.dumps({**d, **changes, "payload": payload})


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        (_with(GOOD, type="iteration_begin"), "type", "unknown event type 'iteration_begin'"),
        (_with(DECISION, drop=("reason",)), "payload (decision).reason", "missing"),
        (_with(DECISION, payload={"old_mean": "12"}), "payload (decision).old_mean", "must be a number, got '12'"),
        (_with(DECISION, payload={"n": True}), "payload (decision).n", "must be an integer, got True"),
        (_with(DECISION, payload={"seeds": [1, "x"]}), "payload (decision).seeds[1]", "must be an integer"),
        (_with(DECISION, payload={"new_field": 1}), "payload (decision)", "unknown field(s) 'new_field'"),
        (_with(GOOD, seq="0"), "seq", "must be an integer, got '0'"),
        (json.dumps({k: v for k, v in json.loads(GOOD).items() if k != "run_id"}), "run_id", "missing"),
        (json.dumps([1, 2]), "", "must be an object, got [1, 2]"),
    ],
)
def test_a_line_that_is_not_an_event_is_refused_naming_file_line_and_field(
    tmp_path: Path, bad: str, field: str, message: str
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(f"{GOOD}\n{bad}\n{GOOD}\n")
    with pytest.raises(EventStreamError) as caught:
        read_events(path)
    assert caught.value.source == f"{path}:2"
    assert caught.value.path == field
    assert message in caught.value.message
    assert str(caught.value) == ": ".join(p for p in (f"{path}:2", field, caught.value.message) if p)


def test_replay_of_a_bad_stream_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "events.jsonl").write_text(GOOD + "\n" + _with(DECISION, payload={"accepted": "yes"}) + "\n")
    code, out, err = paylab_in_process("replay", "r1", "--out", tmp_path)
    assert (code, out) == (2, "")  # nothing printed before the refusal
    (line,) = err.splitlines()
    assert line == (
        f"error: {tmp_path / 'r1' / 'events.jsonl'}:2: payload (decision).accepted: must be true or false, got 'yes'"
    )


def test_only_a_cut_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(f"{GOOD}\n{GOOD[:30]}")  # a crash mid-write: no newline after it
    assert len(read_events(path)) == 1
    path.write_text(f"{GOOD}\n{GOOD[:30]}\n")  # a complete line that is not JSON
    with pytest.raises(EventStreamError, match=r":2: not JSON"):
        read_events(path)
    path.write_text(f"{GOOD[:30]}\n{GOOD}\n")  # damage before the end is never skipped
    with pytest.raises(EventStreamError, match=r":1: not JSON"):
        read_events(path)


def test_a_bad_stored_event_in_a_sweep_names_the_run_and_seq() -> None:
    store = MemoryStore()
    events = read_events(DATA / "exp1_converged.jsonl")[:3]
    tables = rows_for_events("s", events)
    broken = tables["events"].to_pylist()
    broken[1]["payload_json"] = broken[1]["payload_json"].replace('"total"', '"totl"')
    store.write_part("events", "s", events[0].run_id, "it-00000", tables["events"].from_pylist(broken))
    with pytest.raises(EventStreamError) as caught:
        store.events_for("s", events[0].run_id)
    assert caught.value.source == f"sweep s, run {events[0].run_id}, events seq 1"
    assert "unknown field(s) 'totl'" in str(caught.value)


def test_emit_takes_only_payload_records() -> None:
    provider = LiveStateProvider("r")
    with pytest.raises(TypeError, match="not an event payload: dict"):
        provider.emit(1, {"reason": "x"})  # type: ignore[arg-type]
    assert provider.events == [] and provider.seq == 0
