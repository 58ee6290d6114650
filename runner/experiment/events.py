"""The experiment's event stream: every step emits an event; sinks consume them.

`LiveStateProvider` keeps the events of a run in memory (so `get_current_state` can answer
at any time) and forwards each one to its sinks: the terminal display, the run's JSONL file
(what ``paylab replay`` reads back), and in a sweep the Parquet store. Events are plain
JSON-ready dicts; money in them is integer cents (means and statistics are floats).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

EVENT_TYPES = (
    "experiment_start",
    "iteration_start",
    "context_day",
    "evaluation",
    "llm_interaction",
    "proposal",
    "decision",
    "reference_cost",
    "converged",
    "experiment_end",
)


@dataclass(frozen=True)
class Event:
    seq: int
    run_id: str
    iteration: int
    type: str
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "iteration": self.iteration,
            "type": self.type,
            "payload": self.payload,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Event:
        return Event(int(d["seq"]), str(d["run_id"]), int(d["iteration"]), str(d["type"]), dict(d["payload"]))


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

    def emit(self, iteration: int, kind: str, /, **payload: Any) -> Event:
        # positional-only: a payload may carry its own "iteration" or "kind" key (an
        # LLMInteraction does)
        assert kind in EVENT_TYPES, kind
        event = Event(self.seq, self.run_id, iteration, kind, payload)
        self.seq += 1
        self.events.append(event)
        for sink in self.sinks:
            sink.handle(event)
        return event

    def of_type(self, kind: str) -> Iterator[Event]:
        return (e for e in self.events if e.type == kind)


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


def read_events(path: Path) -> list[Event]:
    """Events stored by `JsonlEventSink` (a truncated last line from a crash is skipped)."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(Event.from_dict(json.loads(line)))
        except json.JSONDecodeError:
            break
    return events
