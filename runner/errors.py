"""The exception hierarchy of paylab.

Every error a user can cause carries enough context to print one line that names the file,
the dotted path of the offending field and what must hold. The CLI turns a `RunnerError`
into that line and exit code 2 (bad input) or 1 (a run that failed); nothing else is caught.
"""

from __future__ import annotations

import copy
from pathlib import Path


class RunnerError(Exception):
    """Root of every error paylab raises on purpose."""


class ConfigError(RunnerError):
    """A configuration file (scenario, policy, experiment, sweep) is invalid.

    Args:
        message: what must hold and what was received.
        source: the file the value came from, if any.
        path: dotted path of the field inside that file (``agents[0].liquidity_pool``).
    """

    def __init__(self, message: str, *, source: str | Path | None = None, path: str = "") -> None:
        self.message = message
        self.source = str(source) if source is not None else None
        self.path = path
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.source, self.path) if p]
        return ": ".join([*parts, self.message])

    def with_source(self, source: str | Path) -> ConfigError:
        """The same error attributed to ``source`` (used when a loader knows the file)."""
        err = copy.copy(self)
        err.source = str(source)
        err.args = (err.one_line(),)
        return err

    def under(self, prefix: str) -> ConfigError:
        """The same error with its path nested under ``prefix``."""
        err = copy.copy(self)
        err.path = f"{prefix}.{self.path}" if self.path else prefix
        err.args = (err.one_line(),)
        return err


class NotSupportedError(ConfigError):
    """A key that paylab knows but does not implement yet (never silently ignored)."""

    def __init__(self, detail: str = "", *, source: str | Path | None = None, path: str = "") -> None:
        message = "not supported yet" + (f" ({detail})" if detail else "")
        super().__init__(message, source=source, path=path)


class PolicyError(RunnerError):
    """A policy failed validation; ``errors`` holds every problem with its JSON path."""

    def __init__(self, errors: list[str], *, source: str | Path | None = None) -> None:
        self.errors = list(errors)
        self.source = str(source) if source is not None else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``<file>: <first error> (+N more: <their paths>)`` — every problem located, one line."""
        head = f"{self.source}: " if self.source else ""
        first = self.errors[0] if self.errors else "invalid policy"
        rest = [e.split(": ", 1)[0] for e in self.errors[1:]]
        more = ""
        if rest:
            shown = ", ".join(rest[:3]) + (", …" if len(rest) > 3 else "")
            more = f" (+{len(rest)} more: {shown})"
        return f"{head}{first}{more}"


class SimulationError(RunnerError):
    """The engine could not run a policy (e.g. a division by zero on a taken branch)."""


class LLMError(RunnerError):
    """The LLM provider failed in a way the client could not recover from."""


class EventStreamError(ConfigError):
    """A stored event stream (``events.jsonl``, a sweep's ``events`` table) holds an event
    paylab cannot read: ``source`` names the file and line (or the run and ``seq``), ``path``
    the field."""
