"""Real SIGKILLs at chosen durable steps of a `paylab sweep` process, local and Ray.

The kill is deterministic, not timed: a ``sitecustomize`` module (on the subprocess's
``PYTHONPATH``, so Ray's worker processes load it too) wraps `ParquetStore`'s durable steps
and sends SIGKILL to its own process at the k-th step that process makes — once per test,
whichever process gets there first (a marker file makes it the only kill). With
``--executor local`` that kills the driver, which the test then runs again. On Ray it may be
a run actor — Ray restarts it and the run resumes from the store within the same sweep — or
the driver itself, compacting at the end. Either way the tables must end equal to a clean
run's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sweep.helpers_e2e import (
    CASTRO,
    RESUME_SKIP,
    assert_finished_cleanly,
    assert_same_tables,
    paylab,
    ray_env,
    run_ok,
    sweep_args,
    write_sweep,
)

SKIP = RESUME_SKIP
SMALL = (
    "evaluation.num_samples=4",
    "evaluation.reference_samples=4",
    "evaluation.context_days=1",
    "convergence.max_iterations=3",
    "convergence.stability_window=2",
)
SITECUSTOMIZE = """
import os
if os.environ.get("PAYLAB_TEST_KILL_AT"):
    try:
        import signal
        from sweep.store import ParquetStore
        from sweep import batch_files
        _at, _marker, _steps = int(os.environ["PAYLAB_TEST_KILL_AT"]), os.environ["PAYLAB_TEST_KILL_MARKER"], [0]

        def _step():
            _steps[0] += 1
            if _steps[0] == _at:
                try:
                    os.close(os.open(_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    return  # somebody was killed already
                os.kill(os.getpid(), signal.SIGKILL)

        def _after(cls, name):
            original = getattr(cls, name)
            def wrapped(self, *args, **kwargs):
                result = original(self, *args, **kwargs)
                _step()
                return result
            setattr(cls, name, wrapped)

        for _cls, _name in ((ParquetStore, "_save"), (ParquetStore, "_remove"), (ParquetStore, "_put_status"),
                            (batch_files.BatchFiles, "write_batch"), (batch_files.BatchFiles, "delete_batch")):
            _after(_cls, _name)
    except Exception:  # a process that cannot import paylab (Ray's own helpers) is not ours
        pass
"""


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sweep file (exp1 and exp2 × builtin/none and coordinate) and its clean output."""
    folder = tmp_path_factory.mktemp("sigkill")
    sweep_file = write_sweep(folder, name="e2e_small", experiments=CASTRO[:2], replicates=1)
    reference = folder / "reference"
    run_ok(sweep_args(sweep_file, reference, "--executor", "local", overrides=SMALL), cwd=folder)
    hook = folder / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return sweep_file, reference


def _kill_env(base: dict[str, str], hook: Path, at: int, marker: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(hook), base.get("PYTHONPATH", "")) if p)
    return {**base, "PYTHONPATH": path, "PAYLAB_TEST_KILL_AT": str(at), "PAYLAB_TEST_KILL_MARKER": str(marker)}


def _kill_then_finish(
    cells: tuple[Path, Path], tmp_path: Path, at: int, extra: tuple[str, ...], env: dict[str, str]
) -> None:
    sweep_file, reference = cells
    out, marker = tmp_path / "out", tmp_path / "killed"
    args = sweep_args(sweep_file, out, *extra, overrides=SMALL)
    first = paylab(args, cwd=tmp_path, env=_kill_env(env, sweep_file.parent / "hook", at, marker), timeout=300)
    assert marker.exists(), f"step {at} was never reached: {first.stderr[-2000:]}"
    if first.returncode != 0:  # the driver was the one killed: run the same command again
        assert first.returncode == -9, first.stderr[-2000:]
        run_ok(args, cwd=tmp_path, env=env, timeout=300)
    assert_finished_cleanly(out, 4)
    assert_same_tables(out, reference, skip=SKIP)


@pytest.mark.slow
@pytest.mark.parametrize("at", [1, 3, 8, 14, 22, 31, 45, 60, 75])
def test_local_driver_sigkilled_at_a_step_and_rerun(cells: tuple[Path, Path], tmp_path: Path, at: int) -> None:
    _kill_then_finish(cells, tmp_path, at, ("--executor", "local"), dict(os.environ))


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.parametrize("at", [2, 9, 17, 26, 40])
def test_ray_process_sigkilled_at_a_step_and_the_sweep_finishes(
    cells: tuple[Path, Path], ray_tmp: Path, tmp_path: Path, at: int
) -> None:
    _kill_then_finish(cells, tmp_path, at, ("--num-cpus", "2"), ray_env(ray_tmp))
