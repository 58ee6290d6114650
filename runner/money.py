"""Money as people read it. Amounts are integer cents everywhere; this is their one text form."""

from __future__ import annotations

MISSING = "—"


def format_cents(cents: float | None, *, plus: bool = False) -> str:
    """Dollars with two decimals and thousands separators from an amount in cents.

    ``None`` (no figure) reads as an em dash; ``plus=True`` marks non-negative amounts with
    ``+`` (for deltas).

    Example:
        >>> format_cents(49800)
        '$498.00'
        >>> format_cents(-123456.0)
        '-$1,234.56'
        >>> format_cents(250, plus=True), format_cents(None)
        ('+$2.50', '—')
    """
    if cents is None:
        return MISSING
    sign = "-" if cents < 0 else "+" if plus else ""
    return f"{sign}${abs(cents) / 100:,.2f}"
