"""The pool of reused Ray run actors: its size, its seats, and actors taking run after run.

The Ray tests start Ray in this process (2 CPUs, a private temp folder).

* 5 cells of Castro exp1 (deterministic, 3 iterations) through `RunActorPool` with 2
  actors: every run done, run by exactly 2 processes (each took several runs), with the same
  rows in every table as the local executor's, wall-clock columns excepted.
* 5 cells asking the fake LLM (`tests.fakes.fake_openai`, each answer after 0.3 s) through 2
  actors of 2 seats each and the sweep's gateway: one actor process is SIGKILLed while both
  its runs wait for answers. Ray restarts it and retries both, which resume from the store;
  the pool retires the restarted actor only once neither run is in flight. Every run done,
  none finished by the killed process, the same rows as the local executor's.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweep.driver import run_sweep
from sweep.expand import RunSpec
from sweep.ray_driver import UNLIMITED_LLM_RUNS, pool_size, seats_per_actor
from sweep.spec import check_sweep_file
from sweep.store import open_store
from sweep.tables import infer_param_types
from tests.fakes.fake_openai import Delay, FakeOpenAIServer, policy_reply
from tests.sweep.conftest import ray_in_this_process
from tests.sweep.helpers_e2e import (
    CASTRO,
    LLM_POLICY,
    RESUME_SKIP,
    assert_finished_cleanly,
    assert_same_tables,
    rows,
    write_llm_sweep,
    write_sweep,
)

SWEEP = "pool"


def cells(tmp_path: Path, models: list[str], replicates: int = 1) -> list[RunSpec]:
    sweep_file = write_sweep(tmp_path, name=SWEEP, experiments=[CASTRO[0]], models=models, replicates=replicates)
    return check_sweep_file(sweep_file, ["convergence.max_iterations=3", f"output={tmp_path}"])[1]


@pytest.mark.parametrize(
    ("models", "runs", "concurrency", "cap", "cpus", "size"),
    [
        (["builtin/coordinate"], 10, {}, None, 2, 2),  # offline: one per CPU
        (["builtin/coordinate"], 10, {"*": 8}, None, 2, 2),  # a pattern matching no LLM adds nothing
        (["builtin/coordinate"], 1, {}, None, 4, 1),  # never more than the runs
        (["openai/x"], 20, {"openai/*": 8}, None, 2, 18),  # CPUs + two runs per slot of the model
        (["openai/x"], 12, {"openai/*": 8}, None, 2, 12),
        (["openai/x", "anthropic/y"], 40, {"openai/*": 8, "anthropic/*": 3}, None, 2, 24),
        (["openai/x"], 40, {}, None, 2, 2 + UNLIMITED_LLM_RUNS),  # no limit: a default number waiting
        (["openai/x"], 40, {"openai/*": 8}, 5, 2, 5),  # max_runs_in_flight decides
        (["openai/x"], 3, {"openai/*": 8}, 16, 2, 3),
    ],
)
def test_pool_size(
    tmp_path: Path, models: list[str], runs: int, concurrency: dict[str, int], cap: int | None, cpus: int, size: int
) -> None:
    specs = cells(tmp_path, models, replicates=runs // len(models))
    assert len(specs) == runs
    assert pool_size(cpus, specs, concurrency, cap) == size


@pytest.mark.parametrize(
    ("models", "runs", "size", "cpus", "seats"),
    [
        (["builtin/coordinate"], 10, 2, 2, 1),  # offline runs are CPU-bound: a process each
        (["builtin/coordinate", "builtin/none"], 40, 8, 4, 1),
        (["openai/x"], 20, 18, 2, 9),  # runs asking an LLM: one process per CPU
        (["openai/x"], 20, 16, 2, 8),
        (["openai/x"], 20, 18, 4, 5),  # rounded up: never more processes than CPUs
        (["openai/x"], 3, 3, 4, 1),  # fewer runs than CPUs
        (["openai/x", "builtin/none"], 20, 18, 2, 9),  # any run asking an LLM
    ],
)
def test_seats_per_actor(tmp_path: Path, models: list[str], runs: int, size: int, cpus: int, seats: int) -> None:
    specs = cells(tmp_path, models, replicates=runs // len(models))
    assert seats_per_actor(cpus, specs, size) == seats
    if seats > 1:  # the processes the pool keeps for ``size`` runs
        assert -(-size // seats) <= cpus


@pytest.fixture
def ray_here(ray_tmp: Path) -> Iterator[None]:
    with ray_in_this_process(ray_tmp):
        yield


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.usefixtures("ray_here")
def test_two_actors_take_five_runs_in_turn(tmp_path: Path) -> None:
    from sweep.ray_driver import RunActorPool, RunArgs

    runs = cells(tmp_path, ["builtin/coordinate"], replicates=5)
    local = tmp_path / "local"
    run_sweep(check_sweep_file(tmp_path / "small.yaml")[0], runs, open_store(str(local)), str(local), executor="local")
    out = tmp_path / "ray"
    param_keys = infer_param_types(runs, sorted({k for r in runs for k in r.params}))
    pool = RunActorPool(2, 2, open_store(str(out)), str(out), RunArgs(None, 100, param_keys, None))
    try:
        outcomes = pool.run_all(runs, None)
    finally:
        pool.shutdown()
    assert [o.status for o in outcomes] == ["done"] * 5
    assert set(pool.ran_on) == {r.run_id for r in runs}
    assert len(set(pool.ran_on.values())) == 2  # each actor took more than one run
    assert_finished_cleanly(out, 5, sweep=SWEEP, swept=False)  # the pool alone: no sweep-level compaction
    counts = assert_same_tables(out, local, sweep=SWEEP)
    assert counts["runs"] == 5 and counts["iterations"] > 0 and counts["events"] > 0


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.usefixtures("ray_here")
def test_an_actor_killed_with_two_runs_in_flight_resumes_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from sweep.actors import start_gateway
    from sweep.ray_driver import RunActorPool, RunArgs

    monkeypatch.setenv("OPENAI_API_KEY", "dummy")
    with FakeOpenAIServer([Delay(0.3, policy_reply(LLM_POLICY))], cycle=True) as server:
        local = tmp_path / "local"
        sweep_file = write_llm_sweep(tmp_path, server.base_url, name=SWEEP, replicates=5, concurrency=4)
        spec, runs = check_sweep_file(sweep_file, ["convergence.max_iterations=3", f"output={local}"])
        assert {o.status for o in run_sweep(spec, runs, open_store(str(local)), str(local), executor="local")} == {
            "done"
        }
        asked_locally = len(server.requests)

        out = tmp_path / "ray"
        param_keys = infer_param_types(runs, sorted({k for r in runs for k in r.params}))
        gateway = start_gateway([runs[0].config.llm], {"openai/*": 4})
        pool = RunActorPool(2, 2, open_store(str(out)), str(out), RunArgs(None, 100, param_keys, gateway), seats=2)
        outcomes: list[object] = []
        sweep = threading.Thread(target=lambda: outcomes.extend(pool.run_all(runs, None)))
        sweep.start()
        try:
            deadline = time.monotonic() + 120
            while len(server.requests) < asked_locally + 6:  # both actors' runs are asking
                assert time.monotonic() < deadline and sweep.is_alive(), "the Ray runs never asked the LLM"
                time.sleep(0.05)
            victim = pool.actors[0]
            killed = ray.get(victim.pid.remote(), timeout=30)
            os.kill(killed, signal.SIGKILL)
            sweep.join(timeout=300)
            assert not sweep.is_alive()
        finally:
            sweep.join(timeout=300)
            pool.shutdown()
            ray.kill(gateway)
    assert [getattr(o, "status", None) for o in outcomes] == ["done"] * 5
    assert killed not in pool.ran_on.values()  # its runs ended in the restarted process
    assert set(pool.ran_on) == {r.run_id for r in runs}
    assert_finished_cleanly(out, 5, sweep=SWEEP, swept=False)  # the pool alone: no sweep-level compaction
    counts = assert_same_tables(out, local, sweep=SWEEP, skip=RESUME_SKIP)  # attempt 2 for the resumed
    assert counts["runs"] == 5 and counts["llm_calls"] > 0
    attempts = [r["attempt"] for r in rows(out, "runs", sweep=SWEEP, skip={})]
    assert attempts.count(2) >= 2 and set(attempts) <= {1, 2}  # both of the killed actor's runs
