"""The base of every scenario-config model: frozen, unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for every config model: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")
