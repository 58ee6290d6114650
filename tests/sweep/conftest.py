"""Fixtures of the end-to-end sweep tests (helpers: `tests.sweep.helpers_e2e`).

The small sweep: Castro exp1, exp2 and exp3 × {builtin/coordinate, builtin/none} × 2
replicates = 12 runs, made cheap with one-value grid axes given on the command line
(`helpers_e2e.SMALL_OVERRIDES`: 10 bootstrap samples, 20 reference samples, 2 context days,
4 iterations). The offline proposers make every run deterministic per cell.

A session-wide local Ray cannot serve `paylab` subprocesses (each starts its own Ray); the
Ray tests are marked slow and ray, and `ray_tmp` gives their Rays a private temp folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.sweep.helpers_e2e import N_RUNS, assert_finished_cleanly, run_ok, sweep_args, write_sweep


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sweep file (absolute experiment paths; ``output`` is given per invocation)."""
    return write_sweep(tmp_path_factory.mktemp("small_sweep"))


@pytest.fixture(scope="session")
def local_reference(small_sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of one uninterrupted ``--executor local`` run of the small sweep."""
    work = tmp_path_factory.mktemp("reference")
    out = work / "out"
    run_ok(sweep_args(small_sweep, out, "--executor", "local"), cwd=work, timeout=300)
    assert_finished_cleanly(out, N_RUNS)
    return out


@pytest.fixture(scope="session")
def ray_tmp() -> Iterator[Path]:
    """A private RAY_TMPDIR for the Rays that `paylab` subprocesses start (short: socket paths).

    Only our own session folders are in it; the processes are gone (killed by session) by
    the time it is removed.
    """
    path = Path(tempfile.mkdtemp(prefix="plray", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def ray_in_this_process(ray_tmp: Path, drop: Iterable[str] = ()) -> Iterator[None]:
    """A Ray of 2 CPUs started in this process under ``ray_tmp``, without ``RAY_ADDRESS``
    (never another Ray) and the variables ``drop`` in its environment; shut down after."""
    import ray

    from sweep.actors import init_ray

    assert not ray.is_initialized()
    saved = {k: os.environ.pop(k) for k in ("RAY_ADDRESS", *drop) if k in os.environ}
    os.environ.update(RAY_TMPDIR=str(ray_tmp), RAY_USAGE_STATS_ENABLED="0")
    try:
        init_ray(None, num_cpus=2)
        yield
    finally:
        ray.shutdown()
        os.environ.pop("RAY_TMPDIR", None)
        os.environ.update(saved)
