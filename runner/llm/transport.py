"""One chat-completion call through litellm, with backoff on transient provider failures.

`call_with_backoff` makes the HTTP calls of one request: a transient failure is retried after
a delay, any other ends the request, and one no later call can escape is marked fatal, for
the client to end the run (the policy: `runner.llm.retry_policy`). Either way the caller gets
every HTTP call back as a `CallOutcome`, failed ones included, so it can audit them. The API
key is scrubbed from every error text and every answer (`runner.llm.responses`).

`LLMTransport` is the seam between the client and where those calls happen. A `CallOutcome`
is plain data (the answer's text, reasoning, token counts and litellm's cost, never the
litellm response object), so it can cross a process boundary without litellm on the other
side: `LiteLLMTransport` calls in this process (``paylab run``, local sweeps, tests), and a
Ray sweep's run actors reach one gateway actor that holds litellm for all of them
(`sweep.actors.RayGatewayTransport`) — ``import litellm`` costs seconds of CPU per process.

litellm is imported lazily, at the first call (`runner.llm.litellm_loader`), so importing
`runner` never pays for it (or touches the network: `runner.llm` turns off litellm's cost-map
download before the first import).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from runner.llm.config import LLMConfig, missing_key_error
from runner.llm.litellm_loader import load_litellm
from runner.llm.log_redaction import protect_secrets
from runner.llm.responses import CallOutcome, answer_of
from runner.llm.retry_policy import backoff_delay, describe, is_fatal, is_transient
from runner.llm.untrusted import Cleaner, Scrubber, secret_values

log = logging.getLogger(__name__)

# The whole call may take timeout_seconds plus this: litellm's own work around the HTTP
# exchange (building the request, reading the answer) takes CPU time on a busy machine;
# litellm's timeout already bounds every connect and read by timeout_seconds.
CALL_GRACE_SECONDS = 5.0


def request_kwargs(config: LLMConfig, api_key: str | None, supported: Sequence[str] | None) -> dict[str, Any]:
    """Keyword arguments for ``litellm.acompletion`` (messages excluded).

    ``reasoning_effort`` and ``thinking`` are sent only when configured and supported by the
    model (``supported`` is None when litellm does not know the model: then they are sent and
    ``drop_params`` lets litellm drop what the provider cannot take). litellm and the OpenAI
    SDK must not retry on their own (``max_retries=0``): the backoff here is the only one.
    """
    kwargs: dict[str, Any] = {
        "model": config.model,
        "temperature": config.temperature,
        "timeout": config.timeout_seconds,
        "max_retries": 0,
        "drop_params": True,
    }
    if config.max_tokens is not None:
        kwargs["max_tokens"] = config.max_tokens
    if config.api_base is not None:
        kwargs["api_base"] = config.api_base
    if api_key:
        kwargs["api_key"] = api_key
    if config.reasoning_effort is not None:
        if supported is None or "reasoning_effort" in supported:
            kwargs["reasoning_effort"] = config.reasoning_effort
        else:
            log.warning("model %s does not take reasoning_effort; not sent", config.model)
    if config.thinking_budget is not None:
        if supported is None or "thinking" in supported:
            kwargs["thinking"] = {"type": "enabled", "budget_tokens": config.thinking_budget}
        else:
            log.warning("model %s does not take a thinking budget; not sent", config.model)
    return kwargs


def supported_params(model: str) -> list[str] | None:
    """litellm's list of OpenAI-style parameters ``model`` accepts (None when unknown)."""
    litellm = load_litellm()
    try:
        params = litellm.get_supported_openai_params(model=model)
    except litellm.BadRequestError:  # the provider prefix is unknown to litellm
        return None
    return None if params is None else [str(p) for p in params]


Sleep = Callable[[float], Awaitable[None]]
# Held around each HTTP attempt alone (`call_with_backoff`): a concurrency slot of the model.
Gate = Callable[[], AbstractAsyncContextManager[None]]


def _no_gate() -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


async def call_with_backoff(
    config: LLMConfig,
    kwargs: Mapping[str, Any],
    messages: Sequence[Mapping[str, str]],
    scrub: Scrubber,
    sleep: Sleep = asyncio.sleep,
    gate: Gate = _no_gate,
) -> list[CallOutcome]:
    """Call the model, retrying transient failures up to ``config.transport_retries`` times.

    Returns every call made, in order; the last one holds the response, or the error that
    ended the attempt (a non-transient error, or a transient one with retries exhausted).
    The whole call is bounded by ``config.timeout_seconds`` + `CALL_GRACE_SECONDS` (litellm's
    own timeout is per read: a server trickling bytes would never trip it). Every exception of the call itself
    is caught: a hostile response can make litellm raise anything, and no reply ends a run.

    ``gate`` is entered around each attempt's HTTP exchange only, not the backoff before a
    retry nor the reading of the answer after it: the moment the provider has answered,
    another call may use the slot (the Ray LLM gateway keeps its slots filled that way).
    """
    import openai  # installed with litellm; its APIError is the root of litellm's errors

    litellm = load_litellm()
    sent = tuple(dict(m) for m in messages)
    outcomes: list[CallOutcome] = []
    for retry in range(config.transport_retries + 1):
        started = time.perf_counter()
        try:  # the whole call, however slowly the server sends its bytes
            async with gate():
                started = time.perf_counter()  # waiting for the slot is no latency of the call
                response = await asyncio.wait_for(
                    litellm.acompletion(messages=[dict(m) for m in sent], **kwargs),
                    timeout=config.timeout_seconds + CALL_GRACE_SECONDS,
                )
        except openai.APIError as exc:
            fatal = is_fatal(exc)
            failure: _Failure | None = _Failure(exc, describe(exc), not fatal and is_transient(exc), fatal)
        except asyncio.TimeoutError as exc:
            failure = _Failure(exc, f"Timeout: no complete answer within {config.timeout_seconds:g} s", True, False)
        except Exception as exc:  # noqa: BLE001 - a response litellm could not even read
            failure = _Failure(exc, f"unreadable provider response ({describe(exc)})", False, False)
        else:
            failure = None
        latency = time.perf_counter() - started
        if failure is None:
            outcomes.append(CallOutcome(sent, answer_of(response, scrub), None, False, latency))
            return outcomes
        error = Cleaner(scrub).error(failure.text) or type(failure.exc).__name__
        outcomes.append(CallOutcome(sent, None, error, failure.transient, latency, failure.fatal))
        if not failure.transient or retry == config.transport_retries:
            if not failure.fatal:  # a fatal error ends the run, with this text in its one-line error
                log.warning("LLM call to %s failed for good: %s", config.model, error)
            return outcomes
        delay = backoff_delay(config, retry, failure.exc)
        log.warning(
            "LLM call to %s failed (%s); retry %d/%d in %.2f s",
            config.model,
            error,
            retry + 1,
            config.transport_retries,
            delay,
        )
        await sleep(delay)
    return outcomes  # unreachable: the loop always returns


@dataclass(frozen=True)
class _Failure:
    exc: BaseException
    text: str  # not yet cleaned
    transient: bool
    fatal: bool


class LLMTransport(Protocol):
    """Where a client's HTTP calls are made (`LiteLLMTransport`: in this process).

    ``call`` builds the request itself — the API key read from the environment of the
    process that makes the call, via ``config.api_key_env`` (else litellm's provider
    variable) — calls with `call_with_backoff`, and returns every HTTP call as a plain-data
    `CallOutcome`, scrubbed of the key.
    """

    async def supported_params(self, model: str) -> list[str] | None: ...

    async def call(self, config: LLMConfig, messages: Sequence[Mapping[str, str]]) -> list[CallOutcome]: ...


class LiteLLMTransport:
    """`LLMTransport` through litellm in this process (imported at the first call).

    Args:
        sleep: the coroutine used to wait between retries (tests may shorten it).

    Raises (from ``call``):
        ConfigError: ``config.api_key_env`` names a variable this process does not have.
    """

    def __init__(self, sleep: Sleep | None = None) -> None:
        self._sleep: Sleep = sleep or asyncio.sleep
        self._supported: dict[str, list[str] | None] = {}

    async def supported_params(self, model: str) -> list[str] | None:
        if model not in self._supported:
            self._supported[model] = supported_params(model)
        return self._supported[model]

    async def call(
        self, config: LLMConfig, messages: Sequence[Mapping[str, str]], gate: Gate = _no_gate
    ) -> list[CallOutcome]:
        """Every HTTP call made (see `call_with_backoff`, which enters ``gate`` around each)."""
        if config.api_key_env is not None and (missing := missing_key_error(config)) is not None:
            raise missing  # a provider's own variable may be unset: then the call is `is_fatal`
        api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        kwargs = request_kwargs(config, api_key, await self.supported_params(config.model))
        scrub = protect_secrets(secret_values(config))
        return await call_with_backoff(config, kwargs, messages, scrub, self._sleep, gate)
