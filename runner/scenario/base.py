"""The base of every scenario-config model: frozen, unknown keys are errors, numbers are numbers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for every config model: frozen, unknown keys are errors, numbers are numbers.

    ``strict``: a string or a boolean where a number is meant (or the reverse) is an error,
    never converted; ``allow_inf_nan=False``: ``.inf``/``.nan`` are refused for every float.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
