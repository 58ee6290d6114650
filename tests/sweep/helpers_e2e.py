"""Helpers for the end-to-end sweep tests: the small sweep, `paylab` subprocesses, table checks.

Every `paylab` process runs in a session of its own (``start_new_session=True``): a Ray it
starts (GCS, raylet, workers; the workers set their own process groups but stay in the
session) can then be killed to the last process by session id, without touching anybody
else's Ray on this machine. Ray subprocesses also get a private ``RAY_TMPDIR`` (see
`ray_env`), so their session folders do not land in the shared /tmp/ray.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sweep.batch_files import batch_generation
from sweep.status_files import status_batch_generation
from sweep.store import ParquetStore, StatusRecord
from sweep.tables import TABLES
from tests.conftest import EXPERIMENTS, ROOT

PAYLAB = ROOT / ".venv" / "bin" / "paylab"
SWEEP = "e2e_small"
CASTRO = [EXPERIMENTS / "castro" / f"exp{i}.yaml" for i in (1, 2, 3)]
MODELS = ("builtin/coordinate", "builtin/none")
# One-value grid axes applied to every cell: keep exp2 (bootstrap) cheap, every run short.
SMALL_OVERRIDES = (
    "evaluation.num_samples=10",
    "evaluation.reference_samples=20",
    "evaluation.context_days=2",
    "convergence.max_iterations=4",
)
MAX_ITERATIONS = 4
N_RUNS = len(CASTRO) * len(MODELS) * 2  # 3 experiments × 2 models × 2 replicates

# Wall-clock values: when a run started and ended and how long an LLM call took. They are
# the only things that may differ between two executions of the same cells.
WALL_CLOCK: dict[str, tuple[str, ...]] = {
    "runs": ("started_at", "finished_at", "duration_s"),
    "llm_calls": ("latency_s",),
}
WALL_CLOCK_PAYLOAD = {"llm_interaction": ("latency_seconds",)}  # inside events.payload_json
# `runs.attempt` counts how many times the cell was executed: after an interruption it is
# 2 by design (bookkeeping, not a result), so resume comparisons leave it out too.
RESUME_EXTRA = {"runs": ("attempt",)}
#: What a resumed sweep's tables may differ in from an uninterrupted one's.
RESUME_SKIP = {**WALL_CLOCK, **{t: WALL_CLOCK.get(t, ()) + c for t, c in RESUME_EXTRA.items()}}
ROW_KEYS = {
    "runs": ("run_id",),
    "iterations": ("run_id", "iteration", "agent"),
    "proposals": ("run_id", "iteration", "agent"),
    "samples": ("run_id", "iteration", "agent", "sample"),
    "llm_calls": ("run_id", "iteration", "agent", "attempt"),
    "events": ("run_id", "seq"),
}


def write_sweep(
    folder: Path,
    *,
    name: str = SWEEP,
    experiments: Sequence[Path] = tuple(CASTRO),
    models: Sequence[str] = MODELS,
    replicates: int = 2,
    file: str = "small.yaml",
) -> Path:
    """A sweep file over the given Castro experiments (absolute paths) and models."""
    lines = [
        f"name: {name}",
        "experiments:",
        *(f"  - {p}" for p in experiments),
        "grid:",
        f"  llm.model: [{', '.join(models)}]",
        f"replicates: {replicates}",
        "output: results",
        "",
    ]
    path = folder / file
    path.write_text("\n".join(lines))
    return path


# A valid policy: the fake LLM's every answer in the sweeps that ask it.
LLM_POLICY = {
    "version": "1.0",
    "parameters": {"initial_liquidity_fraction": 0.25},
    "payment_tree": {"type": "action", "node_id": "release_all", "action": "Release"},
    "bank_tree": {"type": "action", "node_id": "idle", "action": "NoAction"},
}


def write_llm_sweep(folder: Path, api_base: str, *, name: str, replicates: int, concurrency: int) -> Path:
    """A sweep of Castro exp1 asking ``openai/fake`` at ``api_base`` (a fake server),
    ``concurrency`` calls at once."""
    path = folder / "llm.yaml"
    path.write_text(
        json.dumps(
            {  # JSON is YAML
                "name": name,
                "experiments": [str(CASTRO[0])],
                "grid": {"llm.model": ["openai/fake"], "llm.api_base": [api_base]},
                "replicates": replicates,
                "limits": {"concurrency": {"openai/*": concurrency}},
                "output": "results",
            }
        )
    )
    return path


# ----------------------------------------------------------------------- processes
def ray_env(ray_tmp: Path) -> dict[str, str]:
    """The environment of a `paylab` subprocess that starts its own Ray under ``ray_tmp``."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # never join another Ray
    env.update(RAY_TMPDIR=str(ray_tmp), RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    return env


def session_pids(sid: int) -> set[int]:
    """Live (non-zombie) processes of session ``sid``, from /proc."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
            out.add(int(entry.name))
    return out


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return ""


def kill_session(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """SIGKILL ``proc`` (a session leader) and every process of its session; wait until gone."""
    deadline = time.monotonic() + timeout
    if proc.poll() is None:  # not reaped yet, so its pid (= pgid = sid) is still ours
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    while True:
        left = session_pids(proc.pid)
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.1)
        if not left and proc.poll() is not None:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of session {proc.pid} survive SIGKILL: {sorted(left)}")
        time.sleep(0.1)


def start(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[Any]:
    """``paylab ARGS`` in a new session; output to ``log`` (stdout+stderr) or discarded."""
    sink = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115 — the child owns it
    try:
        return subprocess.Popen(
            [str(PAYLAB), *args],
            cwd=cwd,
            env=dict(env or os.environ),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if log is not None:
            sink.close()  # type: ignore[union-attr]


def paylab(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``paylab ARGS`` to completion (in its own session, cleaned up whatever happens)."""
    return run_in_session([str(PAYLAB), *args], cwd=cwd, env=env, timeout=timeout)


def run_in_session(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion in a session of its own, then kill whatever it left in that
    session (a Ray it started, an SSH control master), also when it overruns ``timeout``."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env or os.environ),
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc)
        out, err = proc.communicate()
        raise AssertionError(
            f"{' '.join(map(os.path.basename, argv[:1]))} {' '.join(argv[1:])} timed out after "
            f"{timeout} s\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
        ) from None
    finally:
        kill_session(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_ok(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    done = paylab(args, cwd=cwd, env=env, timeout=timeout)
    assert done.returncode == 0, f"paylab {' '.join(args)} exited {done.returncode}\n{done.stderr[-3000:]}"
    return done


def sweep_args(sweep_file: Path, out: Path, *extra: str, overrides: Iterable[str] = SMALL_OVERRIDES) -> list[str]:
    return ["sweep", str(sweep_file), "--quiet", *extra, f"output={out}", *overrides]


def wait_for(
    what: str,
    check: Callable[[], Any],
    proc: subprocess.Popen[Any] | None = None,
    timeout: float = 180.0,
    every: float = 0.02,
) -> Any:
    """Poll ``check`` until it returns something truthy; fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {proc.returncode}) before: {what}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for: {what}")


def statuses(out: Path, sweep: str = SWEEP) -> dict[str, StatusRecord]:
    return ParquetStore(out).get_status(sweep) if (out / "_status").is_dir() else {}


def done_count(out: Path, sweep: str = SWEEP) -> int:
    return sum(s.status == "done" for s in statuses(out, sweep).values())


def running_at(out: Path, first: int, last: int, sweep: str = SWEEP) -> list[str]:
    """Runs whose status is running with a committed iteration in ``[first, last]``."""
    return [
        s.run_id
        for s in statuses(out, sweep).values()
        if s.status == "running" and first <= int((s.progress or {}).get("iteration", -1)) <= last
    ]


# ----------------------------------------------------------------------- tables
def _strip_payload(row: dict[str, Any]) -> dict[str, Any]:
    drop = WALL_CLOCK_PAYLOAD.get(row["type"])
    if drop:
        payload = json.loads(row["payload_json"])
        row = {**row, "payload_json": json.dumps({k: v for k, v in payload.items() if k not in drop}, sort_keys=True)}
    return row


def rows(
    out: Path,
    table: str,
    *,
    sweep: str = SWEEP,
    skip: Mapping[str, tuple[str, ...]] = WALL_CLOCK,
    run_ids: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows of ``table`` as `ResultStore.read` returns them, without ``skip``'s columns."""
    data = ParquetStore(out).read(table, sweep=sweep)
    assert set(skip.get(table, ())) <= set(data.column_names), (table, skip.get(table))
    found = data.drop_columns(list(skip.get(table, ()))).to_pylist()
    if table == "events":
        found = [_strip_payload(r) for r in found]
    if run_ids is not None:
        wanted = set(run_ids)
        found = [r for r in found if r["run_id"] in wanted]
    return found


def assert_no_duplicates(out: Path, sweep: str = SWEEP) -> None:
    """No table holds two rows with the same key (a retried iteration replaced, not added)."""
    for table in TABLES:
        keys = [tuple(r[k] for k in ROW_KEYS[table]) for r in rows(out, table, sweep=sweep, skip={})]
        assert len(keys) == len(set(keys)), f"{table}: duplicate keys"


def assert_same_tables(
    got: Path,
    want: Path,
    *,
    skip: Mapping[str, tuple[str, ...]] = WALL_CLOCK,
    run_ids: Iterable[str] | None = None,
    sweep: str = SWEEP,
) -> dict[str, int]:
    """Every table of ``got`` has exactly ``want``'s rows (both sorted by the store); row counts."""
    ids = None if run_ids is None else sorted(run_ids)
    counts = {}
    for table in TABLES:
        a = rows(got, table, sweep=sweep, skip=skip, run_ids=ids)
        b = rows(want, table, sweep=sweep, skip=skip, run_ids=ids)
        assert len(a) == len(b), f"{table}: {len(a)} rows, expected {len(b)}"
        for x, y in zip(a, b, strict=True):
            assert x == y, f"{table}: rows differ\n got: {x}\nwant: {y}"
        counts[table] = len(a)
    return counts


def assert_finished_cleanly(out: Path, n_runs: int, sweep: str = SWEEP, *, swept: bool = True) -> None:
    """Every run done, one runs row each, no part files left (every run was compacted), and
    after a whole sweep (``swept``: its last compaction ran) every status in a status batch."""
    status = statuses(out, sweep)
    assert len(status) == n_runs and {s.status for s in status.values()} == {"done"}, {
        k: s.status for k, s in status.items()
    }
    leftovers = [
        p.name
        for p in out.glob("*/sweep=*/*")
        if p.name.startswith(".")
        or ("~" in p.name and batch_generation(p.name) is None and status_batch_generation(p.name) is None)
    ]
    assert leftovers == [], leftovers
    own_statuses = [
        p.name for p in out.glob(f"_status/sweep={sweep}/*.json") if status_batch_generation(p.name) is None
    ]
    # folded into status batches by the sweep's last compaction
    assert not swept or own_statuses == [], own_statuses
    assert_no_duplicates(out, sweep)
