"""The ``llm`` block of an experiment file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BUILTIN_PREFIX = "builtin/"


class LLMConfig(BaseModel):
    """How to ask for policies: a litellm model string or an offline ``builtin/…`` proposer.

    SimCash's ``"provider:model"`` spelling is accepted and mapped to litellm's
    ``provider/model``. ``max_retries`` counts re-asks after an invalid proposal (so at most
    ``1 + max_retries`` attempts per agent and iteration); ``transport_retries`` counts
    backoff retries of one HTTP call on timeouts, 429 and 5xx. The API key is never stored:
    ``api_key_env`` names the environment variable that holds it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_retries: int = Field(default=3, ge=0, le=20)
    timeout_seconds: float = Field(default=300.0, gt=0)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    thinking_budget: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    system_prompt: str | None = None
    system_prompt_file: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    transport_retries: int = Field(default=4, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)

    @field_validator("model")
    @classmethod
    def _litellm_spelling(cls, value: str) -> str:
        value = value.strip()
        if (not value.startswith(BUILTIN_PREFIX) and ":" in value
                and "/" not in value.split(":", 1)[0]):
            provider, name = value.split(":", 1)
            return f"{provider}/{name}"
        return value

    @model_validator(mode="after")
    def _one_prompt_source(self) -> LLMConfig:
        if self.system_prompt is not None and self.system_prompt_file is not None:
            raise ValueError("give system_prompt or system_prompt_file, not both")
        if self.reasoning_effort is not None and self.thinking_budget is not None:
            raise ValueError("give reasoning_effort or thinking_budget, not both")
        return self

    @property
    def is_builtin(self) -> bool:
        return self.model.startswith(BUILTIN_PREFIX)
