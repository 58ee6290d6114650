"""Which provider failures are worth a retry, which end the run, and how long to wait.

Transient failures — timeouts, connection errors, 429 (honouring ``Retry-After``), 5xx — are
retried with exponential backoff (`backoff_delay`); any other provider error is final, and
one that no later call can escape either (missing credentials; a key, access or model
refused: `is_fatal`) ends the run. `runner.llm.transport.call_with_backoff` applies this
policy; `describe` gives a failure's one-line text.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from datetime import datetime, timezone

from runner.llm.config import LLMConfig
from runner.llm.litellm_loader import load_litellm

MAX_BACKOFF_SECONDS = 60.0  # cap of the exponential delay
MAX_RETRY_AFTER_SECONDS = 300.0  # a longer Retry-After is clipped to this
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
FATAL_STATUS = frozenset({401, 403, 404})


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
