"""API keys are scrubbed from the log records of litellm and the HTTP stack, too.

`protect_secrets` gives the `Scrubber` of a call's keys and registers it, from then on, with
one logging filter on the third-party loggers that may print a provider's words verbatim;
the texts paylab keeps are cleaned where they enter (`runner.llm.untrusted`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from runner.llm.untrusted import Scrubber


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
