"""How queued payments settle: the LSM's offsetting (``lsm_config``) and deadline-driven
priority escalation (``priority_escalation``).

Rules of the settlement mechanism, not of any agent: separate from the agents, their arrivals
and the costs, which they do not depend on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from runner.config_base import Strict


class LsmConfig(Strict):
    enable_bilateral: bool = True
    enable_cycles: bool = True
    max_cycle_length: int = Field(default=4, ge=3)
    max_cycles_per_tick: int = Field(default=10, ge=1)


class PriorityEscalation(Strict):
    """Deadline-driven priority boosts (reference §4.2 step 2a).

    SimCash's engine reads ``start_escalating_at_ticks``; its example files write
    ``threshold_ticks``, which that engine ignores. paylab reads either as the start (the
    files' evident intent; docs/engine.md), never both. ``curve`` is accepted: the engine's
    boost is linear whatever it says (a warning names it)."""

    enabled: bool = False
    curve: Literal["linear", "exponential", "step"] = "linear"
    start_escalating_at_ticks: int | None = Field(default=None, gt=0)
    threshold_ticks: int | None = Field(default=None, gt=0)
    max_boost: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _one_start(self) -> PriorityEscalation:
        if self.start_escalating_at_ticks is not None and self.threshold_ticks is not None:
            raise ValueError(
                "threshold_ticks: must not be given together with "
                "start_escalating_at_ticks (two spellings of one key; keep one)"
            )
        return self

    @property
    def start_ticks(self) -> int:
        """Escalation starts when this many ticks (or fewer) remain to the deadline."""
        return self.start_escalating_at_ticks or self.threshold_ticks or 20
