"""Real SIGKILLs at chosen durable steps of a `paylab sweep` process, local and Ray.

The kill is deterministic, not timed: a ``sitecustomize`` module (on the subprocess's
``PYTHONPATH``, so Ray's worker processes load it too) wraps every durable step of
`ParquetStore` (a table file, a batch, a status or a status batch written or deleted) and
sends SIGKILL to its own process at the k-th step that process makes (or the k-th of one
kind) — once per test, whichever process gets there first (a marker file makes it the only
kill). With ``--executor local`` that kills the driver, which the test then runs again. On
Ray it may be a run actor — Ray restarts it and the run resumes from the store within the
same sweep — or the driver itself, compacting at the end. Either way the tables must end
equal to a clean run's.

The local kill points are chosen by kind, from the steps a clean run logs: the first, a
middle and the last step of each kind, in a fresh sweep and in one extended with more
replicates (which merges the finished sweep's batches: the only source of batch deletions).
A kind the clean runs stop taking fails the first test rather than going untested.
"""

from __future__ import annotations

import os
import shutil
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
# Every durable step of the store: a file made visible or deleted (`tests.sweep.killpoints`
# counts the same steps in process, file by file).
STEP_KINDS = {
    "_save": "save",
    "_remove": "remove",
    "write_batch": "batch",
    "delete_batch": "remove batch",
    "_put_status": "status",
    "_delete_status_file": "remove status",
    "write_status_batch": "status batch",
    "delete_status_batch": "remove status batch",
}
SITECUSTOMIZE = f"""
import os
if os.environ.get("PAYLAB_TEST_KILL_AT") or os.environ.get("PAYLAB_TEST_STEP_LOG"):
    try:
        import signal
        from sweep.store import ParquetStore
        _kind = os.environ.get("PAYLAB_TEST_KILL_KIND")  # count only the steps of this kind
        _at, _marker = int(os.environ.get("PAYLAB_TEST_KILL_AT", "0")), os.environ.get("PAYLAB_TEST_KILL_MARKER", "")
        _log, _steps = os.environ.get("PAYLAB_TEST_STEP_LOG"), [0]

        def _step(kind):
            if _log:
                with open(_log, "a") as f:
                    f.write(kind + "\\n")
            if _kind is not None and kind != _kind:
                return
            _steps[0] += 1
            if _steps[0] == _at:
                try:
                    os.close(os.open(_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    return  # somebody was killed already
                os.kill(os.getpid(), signal.SIGKILL)

        def _after(name, kind):
            original = getattr(ParquetStore, name)
            def wrapped(self, *args, **kwargs):
                result = original(self, *args, **kwargs)
                _step(kind)
                return result
            setattr(ParquetStore, name, wrapped)

        for _name, _step_kind in {STEP_KINDS!r}.items():
            _after(_name, _step_kind)
    except Exception:  # a process that cannot import paylab (Ray's own helpers) is not ours
        pass
"""


# A fresh sweep only adds files; extending a finished one (more replicates) also merges its
# batches with the new runs' and deletes the old ones.
FRESH_KINDS = sorted(set(STEP_KINDS.values()) - {"remove batch", "remove status batch"})
PHASES = {"fresh": 1, "extended": 2}  # replicates: 4 runs, then 4 more


class Cells:
    """The sweep (exp1 and exp2 × builtin/none and coordinate) with 1 then 2 replicates, the
    folder of the kill hook, and per phase: the clean local output before it (none for the
    fresh sweep), the clean output after it, and its durable steps in order (their kinds)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hook = folder / "hook"
        self.hook.mkdir()
        (self.hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.sweep_file: dict[str, Path] = {}
        self.before: dict[str, Path | None] = {"fresh": None, "extended": folder / "fresh"}
        self.after: dict[str, Path] = {}
        self.steps: dict[str, list[str]] = {}
        for phase, replicates in PHASES.items():
            self.sweep_file[phase] = write_sweep(
                folder, name="e2e_small", experiments=CASTRO[:2], replicates=replicates, file=f"{phase}.yaml"
            )
            out, log = folder / phase, folder / f"{phase}.log"
            if self.before[phase] is not None:
                shutil.copytree(self.before[phase], out)
            env = {**_hooked(dict(os.environ), self.hook), "PAYLAB_TEST_STEP_LOG": str(log)}
            run_ok(self.args(phase, out, "--executor", "local"), cwd=folder, env=env)
            self.after[phase], self.steps[phase] = out, log.read_text().splitlines()

    def args(self, phase: str, out: Path, *extra: str) -> list[str]:
        return sweep_args(self.sweep_file[phase], out, *extra, overrides=SMALL)


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Cells:
    return Cells(tmp_path_factory.mktemp("sigkill"))


def _hooked(base: dict[str, str], hook: Path) -> dict[str, str]:
    return {**base, "PYTHONPATH": os.pathsep.join(p for p in (str(hook), base.get("PYTHONPATH", "")) if p)}


def _kill_then_finish(
    cells: Cells,
    tmp_path: Path,
    phase: str,
    at: int,
    extra: tuple[str, ...],
    env: dict[str, str],
    kind: str | None = None,
) -> None:
    """SIGKILL the first process of the sweep ``phase`` to reach its ``at``-th step (of
    ``kind`` only, if given), run the sweep again if that was the driver, and compare with
    the clean run."""
    out, marker = tmp_path / "out", tmp_path / "killed"
    before = cells.before[phase]
    if before is not None:
        shutil.copytree(before, out)
    args = cells.args(phase, out, *extra)
    kill = {"PAYLAB_TEST_KILL_AT": str(at), "PAYLAB_TEST_KILL_MARKER": str(marker)}
    if kind is not None:
        kill["PAYLAB_TEST_KILL_KIND"] = kind
    first = paylab(args, cwd=tmp_path, env={**_hooked(env, cells.hook), **kill}, timeout=300)
    assert marker.exists(), f"step {at} ({kind or 'any kind'}) was never reached: {first.stderr[-2000:]}"
    if first.returncode != 0:  # the driver was the one killed: run the same command again
        assert first.returncode == -9, first.stderr[-2000:]
        run_ok(args, cwd=tmp_path, env=env, timeout=300)
    assert_finished_cleanly(out, 4 * PHASES[phase])
    assert_same_tables(out, cells.after[phase], skip=SKIP)


def test_the_clean_sweeps_take_every_kind_of_durable_step(cells: Cells) -> None:
    """The kill points below cover the whole class only if the clean runs take each kind."""
    assert sorted(set(cells.steps["fresh"])) == FRESH_KINDS
    assert set(cells.steps["extended"]) == set(STEP_KINDS.values())


KILL_POINTS = [
    (phase, kind, which)
    for phase, kinds in (("fresh", FRESH_KINDS), ("extended", sorted(STEP_KINDS.values())))
    for kind in kinds
    for which in ("first", "middle", "last")
]


@pytest.mark.slow
@pytest.mark.parametrize(("phase", "kind", "which"), KILL_POINTS)
def test_local_driver_sigkilled_at_each_kind_of_step_and_rerun(
    cells: Cells, tmp_path: Path, phase: str, kind: str, which: str
) -> None:
    """Killed at the first, a middle and the last step of each kind the clean run took."""
    n = cells.steps[phase].count(kind)
    assert n, f"the clean {phase} sweep never took a {kind!r} step"
    at = {"first": 1, "middle": (n + 1) // 2, "last": n}[which]
    _kill_then_finish(cells, tmp_path, phase, at, ("--executor", "local"), dict(os.environ), kind)


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.parametrize("at", [2, 9, 17, 26, 40])
def test_ray_process_sigkilled_at_a_step_and_the_sweep_finishes(
    cells: Cells, ray_tmp: Path, tmp_path: Path, at: int
) -> None:
    _kill_then_finish(cells, tmp_path, "fresh", at, ("--num-cpus", "2"), ray_env(ray_tmp))
