"""`format_cents`: the one text form of an amount of money (cents in, dollars out)."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from runner.money import MISSING, format_cents

SHAPE = re.compile(r"^(?P<sign>[-+]?)\$(?P<whole>\d{1,3}(,\d{3})*)\.(?P<cents>\d{2})$")


@given(st.integers(min_value=-(10**15), max_value=10**15), st.booleans())
def test_integer_cents_read_back_exactly(cents: int, plus: bool) -> None:
    text = format_cents(cents, plus=plus)
    m = SHAPE.match(text)
    assert m, text
    value = int(m["whole"].replace(",", "")) * 100 + int(m["cents"])
    assert value == abs(cents)
    assert m["sign"] == ("-" if cents < 0 else "+" if plus else "")


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_fractional_cents_round_to_the_nearest_cent(cents: float) -> None:
    m = SHAPE.match(format_cents(cents))
    assert m
    shown_cents = Decimal(m["whole"].replace(",", "") + m["cents"])
    assert abs(shown_cents - Decimal(abs(cents))) <= Decimal("0.501")  # half a cent, float division


def test_examples_and_missing_figures() -> None:
    assert format_cents(49_800) == "$498.00"
    assert format_cents(-123_456.0) == "-$1,234.56"
    assert format_cents(0, plus=True) == "+$0.00"
    assert format_cents(None) == format_cents(None, plus=True) == MISSING == "—"
