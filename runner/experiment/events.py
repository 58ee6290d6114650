"""The experiment's event stream: every step emits an event; sinks consume them.

`LiveStateProvider` keeps the events of a run in memory (so `get_current_state` can answer
at any time) and forwards each one to its sinks: the terminal display, the run's JSONL file
(what ``paylab replay`` reads back), and in a sweep the Parquet store.

An `Event` is an envelope (``seq``, ``run_id``, ``iteration``) around a typed payload, one
record per event type (`runner.experiment.event_types`). `Event.to_dict` / `Event.from_dict`
are the only (de)serialisation: the JSONL file, the ``events`` table and resume all go
through them, and reading refuses an unknown type, a missing or mistyped field and a field
the record does not know (`EventStreamError` naming where, never an ``assert``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from runner.errors import EventStreamError
from runner.experiment.event_types import EVENT_PAYLOADS, EventPayload, event_type
from runner.json_records import RecordFormatError, from_json, to_json

P = TypeVar("P")


@dataclass(frozen=True)
class _Envelope:
    """An event as stored, before its payload is read (the keys of `Event.to_dict`)."""

    seq: int
    run_id: str
    iteration: int
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Event:
    """One event of a run: its position (``seq``, from 0), run, iteration and payload."""

    seq: int
    run_id: str
    iteration: int
    payload: EventPayload

    @property
    def type(self) -> str:
        """The event type's name (``"decision"``…), from the payload's record."""
        return event_type(self.payload)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, as stored (``payload`` as a dict)."""
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "iteration": self.iteration,
            "type": self.type,
            "payload": to_json(self.payload),
        }

    @staticmethod
    def from_dict(data: Any) -> Event:
        """The event ``data`` (a `to_dict` result) describes.

        Raises:
            RecordFormatError: an unknown type, or a field missing, mistyped or unknown
                (``field`` names it, e.g. ``payload.old_mean``).
        """
        env = from_json(_Envelope, data)
        cls = EVENT_PAYLOADS.get(env.type)
        if cls is None:
            known = ", ".join(EVENT_PAYLOADS)
            raise RecordFormatError(f"unknown event type {env.type!r} (known: {known})", "type")
        try:
            payload = from_json(cls, env.payload)
        except RecordFormatError as exc:
            raise exc.under(f"payload ({env.type})") from None
        return Event(env.seq, env.run_id, env.iteration, payload)


def of_type(events: Iterable[Event], kind: type[P]) -> Iterator[tuple[Event, P]]:
    """``(event, payload)`` for each event whose payload is a ``kind``, in order."""
    for event in events:
        if isinstance(event.payload, kind):
            yield event, event.payload


class EventSink(Protocol):
    """Receives every event of a run, in order."""

    def handle(self, event: Event) -> None: ...


class LiveStateProvider:
    """In-memory event log of one run that fans events out to sinks."""

    def __init__(self, run_id: str, sinks: list[EventSink] | None = None, start_seq: int = 0) -> None:
        self.run_id = run_id
        self.sinks = list(sinks or [])
        self.events: list[Event] = []
        self.seq = start_seq

    def emit(self, iteration: int, payload: EventPayload) -> Event:
        event_type(payload)  # a TypeError for anything else, before any sink sees it
        event = Event(self.seq, self.run_id, iteration, payload)
        self.seq += 1
        self.events.append(event)
        for sink in self.sinks:
            sink.handle(event)
        return event

    def of_type(self, kind: type[P]) -> Iterator[tuple[Event, P]]:
        return of_type(self.events, kind)


class JsonlEventSink:
    """Appends events to a JSON-lines file, flushed per event (a crash loses nothing written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None  # opened on the first event: a run that fails to start writes nothing

    def handle(self, event: Event) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(event.to_dict(), sort_keys=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def stored_event(data: Any, where: str) -> Event:
    """`Event.from_dict`, its error an `EventStreamError` naming ``where`` and the field."""
    try:
        return Event.from_dict(data)
    except RecordFormatError as exc:
        raise EventStreamError(exc.message, source=where, path=exc.field) from None


def read_events(path: Path) -> list[Event]:
    """Events stored by `JsonlEventSink`.

    A last line cut short by a crash (not JSON, no newline after it) is skipped; any other
    line that is not an event raises `EventStreamError` naming ``<path>:<line>`` and the field.
    """
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    events = []
    for number, line in enumerate(lines, start=1):
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not text.endswith("\n"):
                break  # the write a crash interrupted
            raise EventStreamError(f"not JSON ({exc.msg})", source=f"{path}:{number}") from None
        events.append(stored_event(data, f"{path}:{number}"))
    return events
