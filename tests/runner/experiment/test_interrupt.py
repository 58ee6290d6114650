"""Ctrl-C on ``paylab run``: prompt stop, exit 130, no result claimed, a resumable event stream.

The run uses the offline ``builtin/coordinate`` proposer, which never awaits: under
``asyncio.run``'s own SIGINT handler a Ctrl-C only cancelled the main task at its next
``await``, i.e. at the end of the run. A real SIGINT goes to a real `paylab` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from runner.experiment.config import ExperimentConfig
from runner.experiment.events import Event, read_events
from runner.experiment.runner import EVENTS_FILE, RESULT_FILE, GenericExperimentRunner
from tests.runner.experiment.support import EXP2
from tests.sweep.helpers_e2e import PAYLAB, kill_session, wait_for

# a long run: many iterations, never converging before the end
LONG = (
    "--max-iterations",
    "3000",
    "--set",
    "convergence.stability_window=3000",
    "--set",
    "evaluation.num_samples=20",
    "--set",
    "evaluation.reference_samples=20",
)


def _events(folder: Path) -> tuple[Path, list[str]]:
    (run_dir,) = [p for p in folder.iterdir() if (p / EVENTS_FILE).is_file()]
    return run_dir, (run_dir / EVENTS_FILE).read_text().splitlines()


def _started(folder: Path) -> bool:
    """Whether the run has begun its event stream (its folder may exist a moment before)."""
    return any((p / EVENTS_FILE).is_file() for p in folder.iterdir())


def _comparable(events: list[Event]) -> list[tuple[int, int, str, str]]:
    return [
        (
            e.seq,
            e.iteration,
            e.type,
            json.dumps({k: v for k, v in e.to_dict()["payload"].items() if k != "run_id"}, sort_keys=True),
        )
        for e in events
    ]


def test_ctrl_c_stops_within_seconds_with_exit_130_and_a_resumable_stream(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(PAYLAB), "run", str(EXP2), "--out", str(tmp_path), *LONG],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(
            "3 iterations done",
            lambda: _started(tmp_path) and sum('"reference_cost"' in line for line in _events(tmp_path)[1]) >= 4,
            proc,
            timeout=120,
        )
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        kill_session(proc)
    assert proc.returncode == 130, err
    assert took < 3.0, f"took {took:.1f} s to stop"
    (line,) = err.strip().splitlines()
    assert line.startswith("interrupted at iteration ") and "no result" in line, line
    assert "events and result in" not in out  # no finished result claimed
    run_dir, lines = _events(tmp_path)
    assert not (run_dir / RESULT_FILE).exists()
    stored = [Event.from_dict(json.loads(x)) for x in lines]  # every line whole
    assert [e.seq for e in stored] == list(range(len(stored)))
    assert "experiment_end" not in {e.type for e in stored}
    assert stored == read_events(run_dir / EVENTS_FILE)

    # Resumable: continuing from that stream gives what an uninterrupted run gives.
    cfg = ExperimentConfig.from_yaml(
        EXP2,
        [
            f"{k}={v}"
            for k, v in (
                ("convergence.max_iterations", 3000),
                ("convergence.stability_window", 3000),
                ("evaluation.num_samples", 20),
                ("evaluation.reference_samples", 20),
            )
        ],
    )
    last = max(e.iteration for e in stored if e.type == "reference_cost")
    target = last + 2

    def run(**kwargs: object) -> list[Event]:
        runner = GenericExperimentRunner(cfg, run_id=run_dir.name, **kwargs)  # type: ignore[arg-type]
        runner.stop_check = lambda: "test" if runner.get_current_state().iteration >= target else None
        runner.run()
        return runner.provider.events

    assert _comparable(run(resume_events=stored)) == _comparable(run())
