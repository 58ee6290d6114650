"""The base of every configuration model (scenario, experiment, sweep)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Frozen; unknown keys are errors (pydantic's default silently ignores them); numbers are
    numbers: a string or a boolean where a number is meant (or the reverse) is an error, never
    converted (``strict``), and ``.inf``/``.nan`` are refused for every float."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
