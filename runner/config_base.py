"""The base of every configuration model (scenario, experiment, sweep)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Frozen, and unknown keys are errors (pydantic's default silently ignores them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
