"""Kill a sweep after every durable step and every event, resume it: the tables equal a clean run's.

Issue #12: a run killed after an iteration's rows were stored but before it was marked done
resumed one iteration too far (``iteration_start`` where the clean run has ``converged``).
These tests do not aim at that point: they kill at *every* point of a small sweep, in turn,
deterministically (`tests.sweep.killpoints`):

* after each durable store step (a table file saved or deleted, a status written) — the
  only moments the results folder changes, so a SIGKILL anywhere leaves one of these states;
* after each event of the run's stream (whether or not it was written yet).

Each time the same sweep is then run again, without faults, and every table — the event
stream first — must equal the uninterrupted run's row for row (wall-clock columns and
``runs.attempt`` aside), with no part or temp file left. The cells: a bootstrap run stopped
by ``max_iterations`` (samples rows), and deterministic runs stopped by convergence before
and exactly at ``max_iterations``. Real SIGKILLs of a `paylab` process at chosen steps are
in test_kill_points_sigkill.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import sweep.run
from sweep.driver import run_sweep
from sweep.expand import RunSpec
from sweep.spec import check_sweep_file
from sweep.store import ParquetStore
from tests.sweep.helpers_e2e import (
    CASTRO,
    RESUME_SKIP,
    assert_finished_cleanly,
    assert_same_tables,
    write_sweep,
)
from tests.sweep.killpoints import Killed, KillingStore, kill_after_event

SKIP = RESUME_SKIP
NAME = "killpoints"
# exp1 + builtin/none converges at iteration 2 (window 2); max_iterations 3 stops the others,
# and max_iterations 2 makes convergence and the last iteration coincide.
BASE = (
    "evaluation.num_samples=4",
    "evaluation.reference_samples=4",
    "evaluation.context_days=1",
    "convergence.stability_window=2",
)
CASES = {
    "converges before the last iteration": ("convergence.max_iterations=3",),
    "converges at the last iteration": ("convergence.max_iterations=2",),
}


class Sweep:
    """The cells of one case and its uninterrupted reference output."""

    def __init__(self, folder: Path, overrides: tuple[str, ...]) -> None:
        sweep_file = write_sweep(
            folder,
            name=NAME,
            experiments=[CASTRO[0], CASTRO[1]],
            models=["builtin/none", "builtin/coordinate"],
            replicates=1,
        )
        self.spec, cells = check_sweep_file(sweep_file, [*BASE, *overrides, f"output={folder}"])
        # exp1/none (converges) and exp2/coordinate (bootstrap, runs to max_iterations)
        self.cells: list[RunSpec] = [
            c
            for c in cells
            if (c.experiment, c.model) in {("castro_exp1", "builtin/none"), ("castro_exp2", "builtin/coordinate")}
        ]
        self.reference = folder / "reference"
        counting = KillingStore(self.reference)
        run_sweep(self.spec, self.cells, counting, str(self.reference), executor="local")
        self.steps = list(counting.steps)
        self.n_events = sum(len(counting.events_for(NAME, c.run_id)) for c in self.cells)

    def run(self, out: Path, store: Any | None = None) -> None:
        run_sweep(self.spec, self.cells, store or ParquetStore(out), str(out), executor="local")

    def check(self, out: Path) -> None:
        assert_finished_cleanly(out, len(self.cells), sweep=NAME)
        assert_same_tables(out, self.reference, skip=SKIP, sweep=NAME)


# The fast suite kills the shorter case at every point; `-m slow` adds the longer one.
@pytest.fixture(
    scope="module",
    params=[
        "converges at the last iteration",
        pytest.param("converges before the last iteration", marks=pytest.mark.slow),
    ],
)
def small(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweep.run, "HEARTBEAT_SECONDS", 3600.0)  # no beats from the thread
        return Sweep(tmp_path_factory.mktemp("killpoints"), CASES[request.param])


@pytest.fixture(autouse=True)
def _no_thread_beats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep.run, "HEARTBEAT_SECONDS", 3600.0)


def test_the_reference_shows_every_stop_rule(small: Sweep) -> None:
    runs = {r.run_id: r for r in small.cells}
    stops = {
        runs[r["run_id"]].model: (r["stop_reason"], r["iterations"])
        for r in ParquetStore(small.reference).read("runs", NAME).to_pylist()
    }
    assert stops["builtin/none"][0] == "converged"
    assert stops["builtin/coordinate"][0] == "max_iterations"


def _kill_and_resume(small: Sweep, out: Path, *, step: int | None = None, event: int | None = None) -> None:
    """Run until the kill fires (it must), then resume and compare with the clean run."""
    with pytest.raises(Killed) as died:
        if event is not None:
            with kill_after_event(event):
                small.run(out)
        else:
            small.run(out, KillingStore(out, kill_at=step))
    small.run(out)
    try:
        small.check(out)
    except AssertionError as exc:
        raise AssertionError(f"killed after {died.value}: {exc}") from None
    shutil.rmtree(out)


def test_killed_after_every_store_step_resumes_exactly(small: Sweep, tmp_path: Path) -> None:
    assert len(small.steps) > 40, small.steps  # every file of every iteration, compaction, statuses
    for k in range(1, len(small.steps) + 1):
        _kill_and_resume(small, tmp_path / f"step{k}", step=k)


def test_killed_after_every_event_resumes_exactly(small: Sweep, tmp_path: Path) -> None:
    for k in range(1, small.n_events + 1):
        _kill_and_resume(small, tmp_path / f"event{k}", event=k)


@pytest.mark.slow
def test_a_run_killed_twice_in_a_row_still_resumes_exactly(small: Sweep, tmp_path: Path) -> None:
    """Resumes are themselves killed: after step k, then again after step k of the resume."""
    for k in range(5, len(small.steps), 7):
        out = tmp_path / f"twice{k}"
        with pytest.raises(Killed):
            small.run(out, KillingStore(out, kill_at=k))
        try:  # the resume has fewer steps to make: it may finish before step k
            small.run(out, KillingStore(out, kill_at=k))
        except Killed:
            small.run(out)
        small.check(out)
        shutil.rmtree(out)
