"""A quiet live progress line for a sweep: runs done/running/failed, iterations, spend, ETA.

On a terminal it redraws one line in place; otherwise it prints a line only when the counts
change, at most every ``interval`` seconds — never a log flood.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

from runner.experiment.status import RunStatus
from runner.money import format_cents
from sweep.run import RunOutcome
from sweep.store import ResultStore


class SweepProgress:
    def __init__(
        self, store: ResultStore, sweep: str, run_ids: list[str], stream: TextIO | None = None, interval: float = 2.0
    ) -> None:
        self.store, self.sweep, self.run_ids = store, sweep, set(run_ids)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_text = ""
        self._done_at_start: int | None = None

    def line(self) -> str:
        statuses = {k: v for k, v in self.store.get_status(self.sweep).items() if k in self.run_ids}
        counts = Counter(record.status for record in statuses.values())
        done, running, failed = counts[RunStatus.DONE], counts[RunStatus.RUNNING], counts[RunStatus.FAILED]
        iterations, calls, spend = 0, 0, 0.0
        best: float | None = None
        for record in statuses.values():
            progress = record.progress or {}
            iterations += int(progress.get("iteration", 0))
            calls += int(progress.get("llm_calls", 0))
            spend += float(progress.get("llm_cost_usd", 0.0) or 0.0)
            if "total" in progress and record.status == RunStatus.DONE:
                best = progress["total"] if best is None else min(best, progress["total"])
        total = len(self.run_ids)
        pending = total - done - running - failed
        if self._done_at_start is None:
            self._done_at_start = done
        finished_now = done + failed - self._done_at_start
        elapsed = time.monotonic() - self.started
        eta = ""
        if finished_now > 0 and pending + running > 0:
            eta = f" | ETA {_duration(elapsed / finished_now * (pending + running))}"
        best_text = f" | best run {format_cents(best)}" if best is not None else ""
        return (
            f"sweep {self.sweep}: {total} runs — done {done}, running {running}, "
            f"failed {failed}, pending {pending} | iterations {iterations} | "
            f"LLM calls {calls}, ${spend:,.2f}{best_text} | {_duration(elapsed)}{eta}"
        )

    def update(self, outcome: RunOutcome | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        text = self.line()
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
        elif text != self._last_text:
            self.stream.write(text + "\n")
            self.stream.flush()
        self._last_text = text

    def close(self) -> None:
        self.update(force=True)
        if self.tty:
            self.stream.write("\n")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
