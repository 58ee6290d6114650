"""The pool of reused Ray run actors: its size, and actors taking run after run.

The Ray test starts Ray in this process (2 CPUs, a private temp folder) and runs 5 cells of
Castro exp1 (deterministic, 3 iterations) through `RunActorPool` with 2 actors: every run
done, run by exactly 2 processes (each took several runs), with the same rows in every table
as the local executor's, wall-clock columns excepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sweep.driver import run_sweep
from sweep.expand import RunSpec
from sweep.ray_driver import UNLIMITED_LLM_RUNS, pool_size
from sweep.spec import check_sweep_file
from sweep.store import open_store
from sweep.tables import infer_param_types
from tests.sweep.conftest import ray_in_this_process
from tests.sweep.helpers_e2e import CASTRO, assert_finished_cleanly, assert_same_tables, write_sweep

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
        (["openai/x"], 20, {"openai/*": 8}, None, 2, 10),  # CPUs + the model's slots
        (["openai/x", "anthropic/y"], 40, {"openai/*": 8, "anthropic/*": 3}, None, 2, 13),
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
