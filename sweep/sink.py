"""`StoreSink`: streams a run's events into a `ResultStore`, one iteration at a time.

The sink buffers events and writes them when an iteration ends — at each ``reference_cost``
event (iteration 0's baseline included) as part ``it-<iteration>`` and at
``experiment_end`` as part ``final`` — for every event-derived table, the ``events`` part
last (it commits the iteration; see `sweep.store`). Events after the last
``reference_cost`` of an interrupted run are lost on purpose: a resumed run recomputes that
iteration, and rewriting the same part names replaces whatever an earlier attempt left.
"""

from __future__ import annotations

from runner.experiment.event_types import ExperimentEndPayload, ReferenceCostPayload
from runner.experiment.events import Event
from sweep.part_names import FINAL_PART, iteration_part
from sweep.store import ResultStore
from sweep.table_rows import rows_for_events
from sweep.tables import EVENT_TABLES

# ``events`` last: its part is what makes the other tables' parts of an iteration visible.
WRITE_ORDER = (*(t for t in EVENT_TABLES if t != "events"), "events")


class StoreSink:
    """A `runner.experiment.events.EventSink` writing one run's rows into a store.

    Example:
        >>> sink = StoreSink(MemoryStore(), "demo", run_id)  # doctest: +SKIP
        >>> GenericExperimentRunner(cfg, run_id=run_id, sinks=[sink]).run()  # doctest: +SKIP
    """

    def __init__(self, store: ResultStore, sweep: str, run_id: str) -> None:
        self.store, self.sweep, self.run_id = store, sweep, run_id
        self._buffer: list[Event] = []

    def handle(self, event: Event) -> None:
        self._buffer.append(event)
        if isinstance(event.payload, ReferenceCostPayload):
            self._flush(iteration_part(event.iteration))
        elif isinstance(event.payload, ExperimentEndPayload):
            self._flush(FINAL_PART)

    def _flush(self, part: str) -> None:
        tables = rows_for_events(self.sweep, self._buffer)
        for name in WRITE_ORDER:
            self.store.write_part(name, self.sweep, self.run_id, part, tables[name])
        self._buffer.clear()
