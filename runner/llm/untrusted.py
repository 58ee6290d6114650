"""Provider output is untrusted data: cleaned once, where it enters (`runner.llm.responses`, `transport`).

Every text a provider controls — a reply, its reasoning, an error message (which may echo
request headers) — passes `Cleaner.text` before anything prints, stores or parses it:

1. lone surrogates (``"\\ud800"`` in the JSON body) become U+FFFD, so every later encoder
   (the JSONL event file, Parquet, the terminal) can write it, and so do terminal control
   characters (an ESC sequence could rewrite what ``-vv`` prints);
2. every API key paylab reads for the call (`secret_values`) is masked, also in the simple
   encodings a provider could echo it in (JSON-escaped, percent-encoded, base64 at any
   alignment, hex) and as the ``sk-abc…xyz`` abbreviations providers print;
3. the text is capped (`MAX_REPLY_CHARS`, `MAX_ERROR_CHARS`): the excess is cut and a note
   says how much.

Numbers a provider sends (`token_count`, `price`) are kept only when they are sane; an absurd
usage makes the call unpriced, with a note, never a crash. The limits are in `docs/limits.md`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

from runner.llm.config import PROVIDER_KEY_ENV, LLMConfig

MAX_REPLY_CHARS = 100_000  # a reply's text, and its reasoning, each
MAX_ERROR_CHARS = 2_000  # a provider's error message
MAX_REASK_REPLY_CHARS = 20_000  # the reply quoted back in a re-ask
MAX_REASK_ERRORS = 20  # errors listed in a re-ask (the rest counted)
MAX_ERROR_LINE_CHARS = 500  # one validation error, as stored and re-asked
MAX_STORED_ERRORS = 50  # validation errors stored per attempt (the rest counted)
MAX_TOKENS = 10**12  # a token count above this is absurd (sums stay far inside int64)
MAX_CALL_COST_USD = 1e6  # a price above this is absurd
MIN_SECRET_CHARS = 8  # shorter values (a local server's "x") are placeholders, not secrets
REDACTED = "[redacted]"
_SURROGATE = re.compile("[\ud800-\udfff]")
# Terminal control characters (ESC sequences could rewrite the terminal `-vv` prints to);
# tab, newline and carriage return stay. JSON never holds them raw, so no policy is lost.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def secret_values(config: LLMConfig, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every API key value a call for ``config`` may use: ``api_key_env``'s and each provider
    variable's (`PROVIDER_KEY_ENV`) that is set — litellm reads the provider variables itself."""
    env = os.environ if environ is None else environ
    names = [config.api_key_env, *PROVIDER_KEY_ENV.values()]
    values = {env[n].strip() for n in names if n and env.get(n)}
    return tuple(sorted(v for v in values if len(v) >= MIN_SECRET_CHARS))


def _base64_cores(secret: bytes) -> list[str]:
    """The part of ``secret``'s base64 that does not depend on its neighbours, per alignment."""
    cores = []
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + secret).decode().rstrip("=")
            start = -(-8 * offset // 6)  # first character made of the secret's bits only
            end = 8 * (offset + len(secret)) // 6  # the last whole one
            cores.append(text[start:end])
    return cores


def _variants(secret: str) -> list[str]:
    raw = secret.encode()
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        binascii.hexlify(raw).decode(),
        *_base64_cores(raw),
    }
    return sorted((f for f in forms if len(f) >= MIN_SECRET_CHARS), key=len, reverse=True)


class Scrubber:
    """Masks secrets (and their simple encodings and echoed abbreviations) in text."""

    def __init__(self, secrets: str | Iterable[str | None] | None = ()) -> None:
        items = [secrets] if isinstance(secrets, str) or secrets is None else list(secrets)
        self.secrets = tuple(sorted({s for s in items if s and len(s) >= MIN_SECRET_CHARS}))
        patterns = [re.escape(v) for s in self.secrets for v in _variants(s)]
        # providers print a key as its first characters and a masked rest ("sk-abc***xyz")
        patterns += [re.escape(s[:6]) + r"[^\s'\",;)]*" for s in self.secrets if len(s) >= 12]
        self._pattern = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None

    def __call__(self, text: str | None) -> str | None:
        if text is None or self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


def cut(text: str, limit: int, what: str) -> tuple[str, str | None]:
    """``text`` within ``limit`` characters, and a note when the excess was cut."""
    if len(text) <= limit:
        return text, None
    note = f"{what} cut to its first {limit:,} of {len(text):,} characters"
    return text[:limit] + f"\n[… {len(text) - limit:,} more characters cut]", note


class Cleaner:
    """Cleans provider texts for one call: surrogates, secrets, length (module docstring)."""

    def __init__(self, scrub: Scrubber) -> None:
        self.scrub = scrub
        self.notes: list[str] = []

    def text(self, value: object, limit: int, what: str) -> str | None:
        if not isinstance(value, str):
            return None
        value = self.scrub(_CONTROL.sub("\ufffd", _SURROGATE.sub("\ufffd", value))) or ""
        value, note = cut(value, limit, what)
        if note:
            self.notes.append(note)
        return value

    def error(self, value: str) -> str:
        return self.text(value, MAX_ERROR_CHARS, "the error message") or ""

    def token_count(self, value: object, what: str) -> int | None:
        """``value`` if it is a sane token count (0 ≤ n ≤ `MAX_TOKENS`), else None with a note."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
            return value
        self.notes.append(f"usage.{what} unusable ({self._show(value)}): the call is counted unpriced")
        return None

    def price(self, value: object) -> float | None:
        if value is None:
            return None
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= MAX_CALL_COST_USD
        ):
            return float(value)
        self.notes.append(f"cost unusable ({self._show(value)}): the call is counted unpriced")
        return None

    def _show(self, value: object) -> str:
        text = self.scrub(_SURROGATE.sub("\ufffd", repr(value))) or ""  # masked before it is cut
        return text if len(text) <= 40 else text[:37] + "..."


def capped_errors(errors: Iterable[str], limit: int) -> list[str]:
    """At most ``limit`` errors, each within `MAX_ERROR_LINE_CHARS`; a last line counts the rest."""
    items = list(errors)
    shown = [cut(e, MAX_ERROR_LINE_CHARS, "error")[0] for e in items[:limit]]
    if len(items) > limit:
        shown.append(f"(… {len(items) - limit} more errors not shown)")
    return shown
