"""One driver per output folder: a second `paylab sweep` (or `paylab compact`) refuses at once.

The lock is an `fcntl.flock` held for the driver's life (`sweep.lock`): the kernel drops it
when the holder dies, so a SIGKILLed driver never blocks the next one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import ConfigError
from sweep.lock import LOCK_FILE, hold_output_lock
from tests.sweep.helpers_e2e import (
    CASTRO,
    kill_session,
    paylab,
    run_ok,
    start,
    statuses,
    sweep_args,
    wait_for,
    write_sweep,
)

HOLD = (
    "import sys, time; from sweep.lock import hold_output_lock; "
    "lock = hold_output_lock(sys.argv[1], 'a test holder'); print('held', flush=True); time.sleep(600)"
)


def _holder(out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_lock_in_another_process_is_refused_with_one_line(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        with pytest.raises(ConfigError) as refused:
            hold_output_lock(str(tmp_path))
        message = str(refused.value)
        assert "\n" not in message and str(tmp_path) in message
        assert f"a test holder (pid {holder.pid} on " in message
    finally:
        kill_session(holder)


def test_a_dead_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    kill_session(holder)  # SIGKILL: no clean-up ran, the lock file stays
    assert (tmp_path / LOCK_FILE).is_file()
    with hold_output_lock(str(tmp_path)):  # ...but the lock went with the process
        pass


def test_the_lock_is_exclusive_within_one_process_too_and_released(tmp_path: Path) -> None:
    first = hold_output_lock(str(tmp_path))
    with pytest.raises(ConfigError, match="is in use by paylab sweep"):
        hold_output_lock(str(tmp_path))
    first.release()
    hold_output_lock(str(tmp_path)).release()


def test_an_object_store_output_is_not_locked() -> None:
    lock = hold_output_lock("s3://bucket/results")
    lock.release()  # nothing to release, nothing created


def test_paylab_sweep_refuses_an_output_another_process_holds(tmp_path: Path) -> None:
    sweep_file = write_sweep(tmp_path, experiments=[CASTRO[0]], models=["builtin/none"], replicates=1)
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        refused = paylab(sweep_args(sweep_file, out, "--executor", "local"), cwd=tmp_path, timeout=60)
    finally:
        kill_session(holder)
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: {out} is in use by a test holder (pid {holder.pid} on "), line
    assert statuses(out) == {}  # nothing was planned, repaired or run
    run_ok(sweep_args(sweep_file, out, "--executor", "local"), cwd=tmp_path)  # free once it died


def test_a_second_sweep_on_a_busy_output_refuses_and_the_first_goes_on(tmp_path: Path) -> None:
    # 24 runs, one after another: the first driver holds the lock for many seconds
    sweep_file = write_sweep(tmp_path, experiments=[CASTRO[1]], models=["builtin/coordinate"], replicates=24)
    out = tmp_path / "out"
    args = sweep_args(sweep_file, out, "--executor", "local")
    first = start(args, cwd=tmp_path, log=tmp_path / "first.log")
    try:
        wait_for(
            "the first sweep holding the lock",
            lambda: f"pid {first.pid} " in (out / LOCK_FILE).read_text() if (out / LOCK_FILE).is_file() else False,
            first,
        )
        second = paylab(args, cwd=tmp_path, timeout=60)
        assert first.poll() is None, "the first sweep ended too soon for this test"
        assert second.returncode == 2, second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert line.startswith("error: ") and f"is in use by paylab sweep (pid {first.pid} on " in line
        wait_for(
            "the first sweep finishing a run after that",
            lambda: any(s.status == "done" for s in statuses(out).values()),
            first,
            timeout=120,
        )
    finally:
        kill_session(first)  # SIGKILL: its lock must not outlive it
    run_ok(args, cwd=tmp_path, timeout=300)
    assert {s.status for s in statuses(out).values()} == {"done"}
