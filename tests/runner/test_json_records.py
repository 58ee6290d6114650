"""`runner.json_records`: exact round trips, strict reading, errors that name the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.json_records import OMIT_DEFAULT, RecordFormatError, from_json, to_json


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    amount: int
    rate: float


@dataclass(frozen=True)
class Outer:
    name: str
    flag: bool
    colour: Colour
    inners: tuple[Inner, ...]
    by_agent: Mapping[str, Inner]
    doc: Any
    maybe: int | None
    later: tuple[str, ...] = field(default=(), metadata=OMIT_DEFAULT)
    optional: float | None = field(default=None, metadata=OMIT_DEFAULT)
    plain_default: int = 0


SAMPLE = {
    "name": "n",
    "flag": True,
    "colour": "red",
    "inners": [{"amount": 1, "rate": 0.5}, {"amount": 2, "rate": 3}],
    "by_agent": {"A": {"amount": 5, "rate": 1.0}},
    "doc": {"any": [1, "thing", None]},
    "maybe": None,
    "plain_default": 0,
}


def test_a_record_reads_and_writes_back_the_same_json() -> None:
    rec = from_json(Outer, SAMPLE)
    assert rec.colour is Colour.RED and rec.inners[1] == Inner(2, 3) and rec.later == () and rec.optional is None
    assert to_json(rec) == SAMPLE
    assert type(rec.inners[1].rate) is int  # an int in a float field stays an int: same bytes
    assert json.dumps(to_json(rec), sort_keys=True) == json.dumps(SAMPLE, sort_keys=True)


def test_omit_default_fields_are_absent_while_unset() -> None:
    rec = from_json(Outer, {**SAMPLE, "later": ["x"], "optional": 2.5})
    assert rec.later == ("x",) and rec.optional == 2.5
    assert to_json(rec) == {**SAMPLE, "later": ["x"], "optional": 2.5}
    assert "plain_default" in to_json(from_json(Outer, {k: v for k, v in SAMPLE.items() if k != "plain_default"}))


@pytest.mark.parametrize(
    ("change", "field_path", "message"),
    [
        ({"name": 3}, "name", "must be a string, got 3"),
        ({"flag": 1}, "flag", "must be true or false, got 1"),
        ({"colour": "green"}, "colour", "must be one of 'red', 'blue', got 'green'"),
        ({"inners": [{"amount": 1, "rate": 0.5}, {"amount": 2.0, "rate": 1}]}, "inners[1].amount", "an integer"),
        ({"inners": {"amount": 1}}, "inners", "must be a list"),
        ({"by_agent": {"A": {"amount": 5}}}, "by_agent.A.rate", "missing"),
        ({"by_agent": {"A": {"amount": 5, "rate": False}}}, "by_agent.A.rate", "must be a number, got False"),
        ({"maybe": "1"}, "maybe", "must be an integer, got '1'"),
        ({"extra": 1, "zzz": 2}, "", "unknown field(s) 'extra', 'zzz'"),
        ({"inners": [{"amount": 1, "rate": 0.5, "x": 0}]}, "inners[0]", "unknown field(s) 'x'"),
    ],
)
def test_a_mismatch_names_the_field_and_what_was_received(
    change: dict[str, Any], field_path: str, message: str
) -> None:
    with pytest.raises(RecordFormatError) as caught:
        from_json(Outer, {**SAMPLE, **change})
    assert caught.value.field == field_path
    assert message in caught.value.message


def test_a_missing_required_field_is_refused() -> None:
    for name in ("name", "inners", "maybe"):  # `maybe` may be null, not absent
        with pytest.raises(RecordFormatError, match=f"^{name}: missing$"):
            from_json(Outer, {k: v for k, v in SAMPLE.items() if k != name})


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(RecordFormatError) as caught:
        from_json(Outer, {**SAMPLE, "flag": "x" * 1000})
    assert len(str(caught.value)) < 120


@given(st.integers() | st.floats(allow_nan=False))
def test_numbers_keep_their_json_form(value: float) -> None:
    rec = from_json(Inner, {"amount": 1, "rate": value})
    assert json.dumps(to_json(rec)) == json.dumps({"amount": 1, "rate": value})
