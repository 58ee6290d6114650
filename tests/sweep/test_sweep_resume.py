"""Kill a sweep anywhere, run the same command again: the tables equal an uninterrupted run's.

A resumed sweep yields exactly the rows an uninterrupted one would (with a recorded or
offline proposer): no duplicates, nothing lost (docs/sweeps.md, "Resume"). Every case compares every table with the
session's uninterrupted local run of the same cells (`conftest.local_reference`; the three
executors are shown to agree in test_sweep_determinism.py), row for row, leaving out the
wall-clock columns (`helpers_e2e.WALL_CLOCK`) and ``runs.attempt``, which counts executions
of a cell and is 2 by design for a run that was interrupted and resumed (checked separately).

* the driver (``--executor local``) SIGKILLed after 1 run is done, after 4, and in the
  middle of a run (a run ``running`` with iterations committed and iterations left);
* the Ray driver SIGKILLed in the middle of a run, then the sweep re-run on Ray;
* one run's actor process (``ray::RunActor.run``) SIGKILLed while the sweep runs: Ray
  restarts the actor (``max_restarts``) and retries its ``run`` call (``max_task_retries``),
  which resumes the run from the store; the sweep finishes with exit 0 and nothing failed.

Processes are killed by session (`helpers_e2e.kill_session`): nothing of a killed sweep,
Ray included, is left running when the next command starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sweep.spec import check_sweep_file
from sweep.store import ParquetStore
from tests.sweep.helpers_e2e import (
    CASTRO,
    MAX_ITERATIONS,
    N_RUNS,
    RESUME_EXTRA,
    SMALL_OVERRIDES,
    SWEEP,
    WALL_CLOCK,
    assert_finished_cleanly,
    assert_same_tables,
    cmdline,
    done_count,
    kill_session,
    ray_env,
    rows,
    run_ok,
    running_at,
    session_pids,
    start,
    statuses,
    sweep_args,
    wait_for,
    write_sweep,
)

pytestmark = pytest.mark.slow
SKIP = {**WALL_CLOCK, **{t: WALL_CLOCK.get(t, ()) + c for t, c in RESUME_EXTRA.items()}}
MID = (1, MAX_ITERATIONS - 2)  # a committed iteration, and at least one iteration still to go


def _interrupted_state(out: Path) -> dict[str, str]:
    """Status per run right after the kill; the run that was in flight is still 'running'."""
    found = {run_id: s.status for run_id, s in statuses(out).items()}
    assert set(found.values()) <= {"done", "running"}, found
    assert list(found.values()).count("running") <= 1, found  # one run at a time
    return found


def _started_at(out: Path) -> dict[str, Any]:
    return {r["run_id"]: r["started_at"] for r in rows(out, "runs", skip={})}


def _exit_code(proc: subprocess.Popen[Any], log: Path, timeout: float = 240.0) -> int:
    """The sweep's exit code once it has finished (its log in the failure if it does not)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the sweep did not finish:\n{log.read_text()[-3000:]}") from None


def _check_resumed(
    out: Path, reference: Path, before: dict[str, str], n_runs: int, run_ids: list[str] | None = None
) -> None:
    assert_finished_cleanly(out, n_runs)
    assert_same_tables(out, reference, skip=SKIP, run_ids=run_ids)
    attempts = {r["run_id"]: r["attempt"] for r in rows(out, "runs")}
    # the interrupted run was executed twice, every other run once (done ones were skipped)
    assert attempts == {run_id: 2 if before.get(run_id) == "running" else 1 for run_id in attempts}


@pytest.mark.parametrize("point", ["after 1 run", "after 4 runs", "mid-run"])
def test_local_driver_killed_and_rerun(point: str, small_sweep: Path, local_reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = sweep_args(small_sweep, out, "--executor", "local")
    proc = start(args, cwd=tmp_path, log=tmp_path / "killed.log")
    try:
        if point == "mid-run":
            # an exp2 run (after exp1's: some runs are done): its iterations are long enough to aim at
            wait_for(
                "an exp2 run with iterations committed and to go",
                lambda: [r for r in running_at(out, *MID) if r.startswith("castro_exp2")],
                proc,
            )
        else:
            k = int(point.split()[1])
            wait_for(f"{k} runs done", lambda: done_count(out) >= k, proc)
    finally:
        kill_session(proc)

    before = _interrupted_state(out)
    n_done = list(before.values()).count("done")
    assert 1 <= n_done < N_RUNS, before
    if point == "mid-run":
        (running,) = [run_id for run_id, s in before.items() if s == "running"]
        committed = ParquetStore(out).last_complete_iteration(SWEEP, running)
        assert committed is not None and committed >= 1, committed  # killed inside the run
    started = {r: t for r, t in _started_at(out).items() if before[r] == "done"}

    rerun = run_ok(args, cwd=tmp_path, timeout=240)
    assert f"{N_RUNS} runs ({n_done} done, 0 failed before, {N_RUNS - n_done} to run)" in rerun.stderr
    _check_resumed(out, local_reference, before, N_RUNS)
    after = _started_at(out)
    assert {r: after[r] for r in started} == started, "a run that was done was run again"


@pytest.fixture(scope="module")
def ray_cells(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The Ray resume sweep: exp1 and exp2 × {coordinate, none}, replicate 0 (4 runs)."""
    folder = tmp_path_factory.mktemp("ray_resume")
    sweep_file = write_sweep(folder, experiments=CASTRO[:2], replicates=1)
    _, cells = check_sweep_file(sweep_file, [*SMALL_OVERRIDES, f"output={folder}"])
    return sweep_file, [c.run_id for c in cells]


@pytest.mark.ray
def test_ray_driver_killed_and_rerun(
    ray_cells: tuple[Path, list[str]], local_reference: Path, ray_tmp: Path, tmp_path: Path
) -> None:
    sweep_file, run_ids = ray_cells
    out = tmp_path / "out"
    env = ray_env(ray_tmp)
    proc = start(sweep_args(sweep_file, out, "--num-cpus", "1"), cwd=tmp_path, env=env, log=tmp_path / "killed.log")
    try:  # one run at a time: exp1's two runs finish, then exp2's first is caught mid-run
        wait_for(
            "2 runs done and one mid-run", lambda: done_count(out) >= 2 and running_at(out, *MID), proc, timeout=240
        )
    finally:
        kill_session(proc)
    before = _interrupted_state(out)
    assert list(before.values()).count("running") == 1, before

    rerun = run_ok(sweep_args(sweep_file, out, "--num-cpus", "2"), cwd=tmp_path, env=env, timeout=240)
    n_done = list(before.values()).count("done")
    assert f"4 runs ({n_done} done, 0 failed before, {4 - n_done} to run)" in rerun.stderr
    _check_resumed(out, local_reference, before, len(run_ids), run_ids)


@pytest.mark.ray
def test_ray_run_actor_killed_is_restarted_and_resumes(
    ray_cells: tuple[Path, list[str]], local_reference: Path, ray_tmp: Path, tmp_path: Path
) -> None:
    sweep_file, run_ids = ray_cells
    out = tmp_path / "out"
    log = tmp_path / "sweep.log"
    proc = start(sweep_args(sweep_file, out, "--num-cpus", "1"), cwd=tmp_path, env=ray_env(ray_tmp), log=log)
    try:
        victim_run = wait_for(  # an exp2 run: its iterations last long enough to aim at
            "an exp2 run mid-way",
            lambda: [r for r in running_at(out, *MID) if r.startswith("castro_exp2")],
            proc,
            timeout=240,
        )[0]
        # The actor executing a run titles its process "ray::RunActor.run" (idle: "ray::RunActor");
        # only processes of this sweep's own session are candidates.
        actor_pid = wait_for(
            "the RunActor process",
            lambda: [p for p in session_pids(proc.pid) if cmdline(p).startswith("ray::RunActor.run")],
            proc,
        )[0]
        os.kill(actor_pid, signal.SIGKILL)
        committed = ParquetStore(out).last_complete_iteration(SWEEP, victim_run)
        assert committed is not None and committed >= 1
        code = _exit_code(proc, log)
    finally:
        kill_session(proc)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "failed:" not in text, text[-3000:]
    status = statuses(out)
    assert status[victim_run].status == "done" and status[victim_run].attempt == 2, status[victim_run]
    _check_resumed(out, local_reference, {victim_run: "running"}, len(run_ids), run_ids)


@pytest.mark.ray
def test_ray_run_actor_killed_more_often_than_restarted_fails_alone(ray_tmp: Path, tmp_path: Path) -> None:
    """RunActor has max_restarts=3: the 4th death fails the run, recorded, and the next runs on.

    The sweep: exp2 (killed at every incarnation of its actor) then exp1, one CPU so one
    actor at a time. The failed run gets a ``runs`` row with its error, not only a status
    (`sweep.ray_driver._record_failure`), the sweep prints it and exits 1.
    """
    sweep_file = write_sweep(
        tmp_path, name="e2e_dies", experiments=[CASTRO[1], CASTRO[0]], models=["builtin/coordinate"], replicates=1
    )
    out = tmp_path / "out"
    log = tmp_path / "sweep.log"
    proc = start(sweep_args(sweep_file, out, "--num-cpus", "1"), cwd=tmp_path, env=ray_env(ray_tmp), log=log)
    killed: list[int] = []
    try:
        while len(killed) < 4:  # the first incarnation and its three restarts
            pid = wait_for(
                f"RunActor incarnation {len(killed) + 1}",
                lambda: [
                    p for p in session_pids(proc.pid) if cmdline(p).startswith("ray::RunActor") and p not in killed
                ],
                proc,
                timeout=120,
            )[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        code = _exit_code(proc, log)
    finally:
        kill_session(proc)
    text = log.read_text()
    assert code == 1, text[-3000:]
    runs = {r["experiment"]: r for r in rows(out, "runs", sweep="e2e_dies")}
    assert runs["castro_exp1"]["status"] == "done", runs["castro_exp1"]
    dead = runs["castro_exp2"]
    kind = dead["error"].split(":")[0]  # ActorDiedError is Ray's RayActorError for a dead actor
    assert dead["status"] == "failed" and kind in ("ActorDiedError", "RayActorError"), dead["error"]
    assert f"failed: {dead['run_id']}: {kind}" in text
    assert "failed runs (1)" in text  # the analyze table printed at the end lists it
    status = statuses(out, "e2e_dies")[dead["run_id"]]
    assert status.status == "failed" and status.attempt == dead["attempt"] >= 1


@pytest.mark.ray
def test_ray_pool_driver_killed_at_several_points_then_finished(ray_tmp: Path, tmp_path: Path) -> None:
    """The shape of benchmarks/sweep.py part (d), smaller: Castro exp1 × builtin/coordinate ×
    12 replicates on a pool of 2 run actors, the driver (with its Ray) SIGKILLed after 2, 5
    and 9 runs are done, each time run again; finished, the tables equal an uninterrupted
    local run's, and the runs done before a kill were not run again."""
    sweep_file = write_sweep(
        tmp_path, name=SWEEP, experiments=[CASTRO[0]], models=["builtin/coordinate"], replicates=12, file="pool.yaml"
    )
    reference = tmp_path / "reference"
    run_ok(sweep_args(sweep_file, reference, "--executor", "local"), cwd=tmp_path, timeout=300)
    out = tmp_path / "out"
    args = sweep_args(sweep_file, out, "--num-cpus", "2")
    env = ray_env(ray_tmp)
    started: dict[str, Any] = {}
    for k in (2, 5, 9):
        proc = start(args, cwd=tmp_path, env=env, log=tmp_path / f"killed{k}.log")
        try:
            wait_for(f"{k} runs done", lambda k=k: done_count(out) >= k, proc, timeout=240)
        finally:
            kill_session(proc)
        found = {run_id: s.status for run_id, s in statuses(out).items()}
        assert set(found.values()) <= {"done", "running"} and list(found.values()).count("done") >= k, found
        done_before = {r: t for r, t in _started_at(out).items() if found.get(r) == "done"}
        assert {r: done_before[r] for r in started} == started, "a run that was done was run again"
        started = done_before
    run_ok(args, cwd=tmp_path, env=env, timeout=300)
    assert_finished_cleanly(out, 12)
    assert_same_tables(out, reference, skip=SKIP)
    after = _started_at(out)
    assert {r: after[r] for r in started} == started
