"""One chat-completion call through litellm, with backoff on transient provider failures.

Transient failures — timeouts, connection errors, 429 (honouring ``Retry-After``), 5xx — are
retried with exponential backoff; any other provider error is final, and one that no later
call can escape either (missing credentials; a key, access or model refused: `is_fatal`) is
marked so, for the client to end the run. Either way the caller gets every HTTP call back as a `CallOutcome`,
failed ones included, so it can audit them. The API key is scrubbed from every error text
and every answer.

`LLMTransport` is the seam between the client and where those calls happen. A `CallOutcome`
is plain data (the answer's text, reasoning, token counts and litellm's cost, never the
litellm response object), so it can cross a process boundary without litellm on the other
side: `LiteLLMTransport` calls in this process (``paylab run``, local sweeps, tests), and a
Ray sweep's run actors reach one gateway actor that holds litellm for all of them
(`sweep.actors.RayGatewayTransport`) — ``import litellm`` costs seconds of CPU per process.

litellm is imported here, lazily, so importing `runner` never pays for it (or touches the
network: `runner.llm` turns off litellm's cost-map download before the first import).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import os
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from runner.llm.config import LLMConfig, missing_key_error
from runner.llm.untrusted import MAX_REPLY_CHARS, Cleaner, Scrubber, secret_values

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0  # cap of the exponential delay
MAX_RETRY_AFTER_SECONDS = 300.0  # a longer Retry-After is clipped to this
# The whole call may take timeout_seconds plus this: litellm's own work around the HTTP
# exchange (building the request, reading the answer) takes CPU time on a busy machine;
# litellm's timeout already bounds every connect and read by timeout_seconds.
CALL_GRACE_SECONDS = 5.0
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
FATAL_STATUS = frozenset({401, 403, 404})


def load_litellm() -> Any:
    """Import litellm (once) with its console chatter and telemetry turned off."""
    import litellm

    litellm.suppress_debug_info = True
    if hasattr(litellm, "telemetry"):
        litellm.telemetry = False
    # litellm's models warn with the provider's values in the text (a reply's content, which
    # may hold the key) when a hostile response has unexpected types: never print them.
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
    return litellm


class _RedactingFilter(logging.Filter):
    """Scrubs registered secrets from log records of litellm and the HTTP stack.

    litellm logs provider responses and errors verbatim at DEBUG; a provider that echoes the
    key (as some do in authentication errors) would otherwise put it in the log.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scrubbers: dict[tuple[str, ...], Scrubber] = {}

    def _scrub(self, text: str) -> str:
        for scrub in self.scrubbers.values():
            text = scrub(text) or text
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.scrubbers:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging
            return True
        clean = self._scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
        return True


_REDACTOR = _RedactingFilter()
THIRD_PARTY_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "openai", "openai._base_client", "httpx")


def protect_secrets(secrets: Iterable[str | None]) -> Scrubber:
    """A `Scrubber` for ``secrets``, also applied from now on to third-party log records."""
    scrub = Scrubber(secrets)
    if scrub.secrets and scrub.secrets not in _REDACTOR.scrubbers:
        _REDACTOR.scrubbers[scrub.secrets] = scrub
        for name in THIRD_PARTY_LOGGERS:
            logger = logging.getLogger(name)
            if _REDACTOR not in logger.filters:
                logger.addFilter(_REDACTOR)
    return scrub


@dataclass(frozen=True)
class Answer:
    """What the client needs of a completion, as plain (picklable) data; texts scrubbed.

    Token counts are None when the provider sent no usage; ``cost_usd`` is litellm's price
    of the call, None when the model has no price (or the tokens are unknown).
    """

    text: str | None
    reasoning: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    notes: tuple[str, ...] = ()  # what cleaning changed: texts cut, usage dropped


@dataclass(frozen=True)
class CallOutcome:
    """One HTTP call: the answer, or the (scrubbed) error that ended it."""

    messages: tuple[dict[str, str], ...]
    answer: Answer | None
    error: str | None
    transient: bool
    latency_seconds: float
    fatal: bool = False  # no later call can succeed either (`is_fatal`)


def _reasoning(message: Any) -> str | None:
    text = getattr(message, "reasoning_content", None)
    if isinstance(text, str) and text.strip():
        return text
    blocks = getattr(message, "thinking_blocks", None)
    blocks = blocks if isinstance(blocks, list) else []
    parts = [str(b.get("thinking", "")) for b in blocks[:1000] if isinstance(b, dict)]
    joined = "\n".join(p for p in parts if p)
    return joined or None


def _cost(response: Any) -> object:
    litellm = load_litellm()
    try:
        return litellm.completion_cost(completion_response=response)
    except Exception:  # noqa: BLE001 - litellm raises many types when a model has no price
        return None


def answer_of(response: Any, scrub: Scrubber) -> Answer:
    """The plain-data `Answer` of a litellm response: texts cleaned and capped, numbers checked
    (`runner.llm.untrusted`), cost priced here. Any shape of response gives an `Answer`."""
    clean = Cleaner(scrub)
    choices = getattr(response, "choices", None)
    first = choices[0] if isinstance(choices, list) and choices else None  # none: an empty reply
    message = getattr(first, "message", None)
    text = clean.text(getattr(message, "content", None), MAX_REPLY_CHARS, "the reply")
    reasoning = clean.text(_reasoning(message), MAX_REPLY_CHARS, "the reasoning")
    usage = getattr(response, "usage", None)
    prompt = clean.token_count(getattr(usage, "prompt_tokens", None), "prompt_tokens")
    completion = clean.token_count(getattr(usage, "completion_tokens", None), "completion_tokens")
    if prompt is None or completion is None or prompt + completion == 0:
        # litellm reports 0/0 when the provider sent no usage: that is "unknown", not zero.
        prompt = completion = None
    cost = clean.price(_cost(response)) if prompt is not None else None  # never priced from estimates
    return Answer(text, reasoning, prompt, completion, cost, tuple(clean.notes))


def describe(exc: BaseException) -> str:
    """``"RateLimitError: <provider message>"``, without litellm's repeated type prefixes."""
    name = type(exc).__name__
    text = str(exc).strip()
    for prefix in (f"litellm.{name}:", f"{name}:"):
        while text.startswith(prefix):
            text = text[len(prefix) :].strip()
    return f"{name}: {text}" if text else name


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: timeouts, connection errors, 429 and 5xx."""
    litellm = load_litellm()
    transient_types = (
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient_types):
        return True
    status = _status(exc)
    return status is not None and (status in TRANSIENT_STATUS or status >= 500)


def is_fatal(exc: BaseException) -> bool:
    """Whether no later call to this model can succeed either, so retrying or asking again is waste.

    Two cases: the client could not even build the request — the OpenAI SDK raises a plain
    ``OpenAIError`` before any HTTP exchange, for missing credentials above all, which litellm
    then reports as a 500 (so `is_transient` alone would retry it for seconds) — or the
    provider refused the key (401), the access (403) or the model (404).
    """
    import openai

    cause: BaseException | None = exc
    for _ in range(8):  # litellm wraps the SDK's error two or three levels deep
        if cause is None:
            break
        if isinstance(cause, openai.OpenAIError) and not isinstance(cause, openai.APIError):
            return True
        cause = cause.__cause__ or cause.__context__
    return _status(exc) in FATAL_STATUS


def _headers(exc: BaseException) -> Mapping[str, str]:
    for source in (
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    ):
        if source is not None and hasattr(source, "get"):
            return {str(k).lower(): str(v) for k, v in dict(source).items()}
    return {}


def retry_after_seconds(exc: BaseException, now: datetime | None = None) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` / ``Retry-After``), if any."""
    headers = _headers(exc)
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return min(MAX_RETRY_AFTER_SECONDS, max(0.0, float(raw_ms) / 1000.0))
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


def backoff_delay(config: LLMConfig, retry: int, exc: BaseException) -> float:
    """Wait before retry number ``retry`` (0-based): Retry-After if given, else exponential."""
    asked = retry_after_seconds(exc)
    if asked is not None:
        return asked
    return float(min(MAX_BACKOFF_SECONDS, config.backoff_seconds * (2**retry)))


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
