"""The ``llm`` block of an experiment file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from runner.config_base import Strict
from runner.errors import ConfigError

BUILTIN_PREFIX = "builtin/"
# The API-key variable litellm reads for a provider (the model's prefix) when the experiment
# names none in ``llm.api_key_env``. Other providers: set ``llm.api_key_env``.
PROVIDER_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "cohere": "COHERE_API_KEY",
}


class LLMConfig(Strict):
    """How to ask for policies: a litellm model string or an offline ``builtin/…`` proposer.

    SimCash's ``"provider:model"`` spelling is accepted and mapped to litellm's
    ``provider/model``. ``max_retries`` counts re-asks after an invalid proposal (so at most
    ``1 + max_retries`` attempts per agent and iteration); ``transport_retries`` counts
    backoff retries of one HTTP call on timeouts, 429 and 5xx. The API key is never stored:
    ``api_key_env`` names the environment variable that holds it.
    """

    model: str = Field(min_length=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_retries: int = Field(default=3, ge=0, le=20)
    timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)  # the whole call, however slow
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    thinking_budget: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    system_prompt: str | None = None
    system_prompt_file: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    transport_retries: int = Field(default=4, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=3_600)

    @field_validator("model")
    @classmethod
    def _litellm_spelling(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(BUILTIN_PREFIX) and ":" in value and "/" not in value.split(":", 1)[0]:
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

    @property
    def key_env(self) -> str | None:
        """The variable holding this model's API key: ``api_key_env``, else the provider's
        (`PROVIDER_KEY_ENV`); None for a builtin proposer or a provider we know no variable of."""
        if self.is_builtin:
            return None
        return self.api_key_env or PROVIDER_KEY_ENV.get(self.model.split("/", 1)[0])

    def missing_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The variable this model's key should be in if ``environ`` (default: this process's
        environment) lacks it, else None. Even with an ``api_base`` (a local server) the
        provider's client wants some key: the OpenAI SDK refuses to send a request without one.
        """
        name = self.key_env
        return name if name is not None and not (environ if environ is not None else os.environ).get(name) else None


def missing_key_error(llm: LLMConfig, environ: Mapping[str, str] | None = None) -> ConfigError | None:
    """The one-line error for a model whose API key is not in ``environ``, else None."""
    name = llm.missing_key(environ)
    if name is None:
        return None
    if llm.api_key_env is not None:
        return ConfigError(f"environment variable {name} is not set", path="llm.api_key_env")
    hint = "; a server that checks none takes any value" if llm.api_base is not None else ""
    return ConfigError(
        f"{llm.model} needs an API key in {name}, which is not set "
        f"(or name the variable that holds it in llm.api_key_env{hint})",
        path="llm.model",
    )
