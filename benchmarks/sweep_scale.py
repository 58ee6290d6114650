"""Sweeps at scale, parts (d), (e) and (r) of ``benchmarks/sweep.py`` (run through it:
``.venv/bin/python benchmarks/sweep.py --only pool|many|resume``).

(d) Reused run actors. 200 runs of Castro exp1 with ``builtin/coordinate`` (``replicates:
    200``; deterministic, ~10 iterations each) through `sweep.driver.run_sweep`, with
    ``executor="local"`` and on a local Ray with 2 CPUs, each in a fresh process, interleaved
    (local, Ray, local, Ray). Steady-state throughput: runs finished per second between the
    first and the last run's end (``runs.finished_at``), target Ray ≥ 1.7 × local. End to
    end, Ray's start-up (``ray.init``, printed separately) included: target ≥ 1.3 × faster.
    The ``runs``, ``iterations``, ``proposals`` and ``samples`` rows must be identical
    (wall-clock columns excepted).
(e) Many short runs: 200 and 2 000 runs of Castro exp1 with ``builtin/coordinate`` and
    ``convergence.max_iterations=2`` on Ray (2 CPUs): wall time per run, the driver's peak
    memory during the sweep (``ru_maxrss`` when `run_sweep` returns, before the benchmark
    reads the runs table back; target: the 2 000-run figure within 15 % of the 200-run one),
    the table and status files in the output after the sweep's compaction, and the time of
    ``paylab analyze`` on it (target ≤ 5 s).
(r) Resume: the sweep of (d) on Ray, its driver SIGKILLed (with its whole session: Ray too)
    after 40, 100 and 160 runs are done, then run to the end; the ``runs``, ``iterations``,
    ``proposals`` and ``samples`` rows must equal an uninterrupted local run's.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXP1 = ROOT / "experiments/castro/exp1.yaml"
POOL_RUNS, POOL_CPUS, POOL_REPEATS = 200, 2, 2
MIN_STEADY, MIN_END_TO_END = 1.7, 1.3
MANY_RUNS = (200, 2_000)
MANY_OVERRIDES = ("convergence.max_iterations=2",)
MAX_MEMORY_GROWTH = 1.15
MAX_ANALYZE_SECONDS = 5.0
KILL_AFTER = (40, 100, 160)
COMPARED = ("runs", "iterations", "proposals", "samples")
WALL_CLOCK = {"runs": ("started_at", "finished_at", "duration_s", "attempt")}


def write_sweep(workdir: Path, name: str, runs: int) -> Path:
    path = workdir / f"{name}.yaml"
    path.write_text(
        json.dumps(
            {  # JSON is YAML
                "name": name,
                "experiments": [str(EXP1)],
                "grid": {"llm.model": ["builtin/coordinate"]},
                "replicates": runs,
                "output": str(workdir / f"out_{name}"),
            }
        )
    )
    return path


def sweep_child(executor: str, sweep_file: Path, overrides: list[str]) -> None:
    """In a fresh process: one sweep; prints JSON with its timings and the driver's peak memory."""
    from sweep.driver import run_sweep
    from sweep.spec import check_sweep_file
    from sweep.store import open_store

    spec, runs = check_sweep_file(sweep_file, overrides)
    root = spec.output_location()
    store = open_store(root)
    ray_start = 0.0
    began = time.monotonic()
    if executor == "ray":
        from sweep.actors import init_ray

        init_ray(None, num_cpus=POOL_CPUS)
        ray_start = time.monotonic() - began
    outcomes = run_sweep(spec, runs, store, root, executor=executor)
    wall = time.monotonic() - began
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before reading the tables back
    if executor == "ray":
        import ray

        ray.shutdown()
    ends = sorted(t.timestamp() for t in store.read("runs", sweep=spec.name).column("finished_at").to_pylist())
    print(
        json.dumps(
            {
                "wall": wall,
                "ray_start": ray_start,
                "runs": len(outcomes),
                "failed": sum(o.status != "done" for o in outcomes),
                "steady": (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else 0.0,
                "maxrss_mb": maxrss_mb,
            }
        )
    )


def run_child(script: Path, args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        print(out.stdout[-2000:], out.stderr[-4000:])
        raise RuntimeError(f"benchmark child {args} failed")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def table_rows(out: Path, sweep: str, table: str) -> list[dict[str, Any]]:
    from sweep.store import ParquetStore

    data = ParquetStore(out).read(table, sweep=sweep)
    return list(data.drop_columns(list(WALL_CLOCK.get(table, ()))).to_pylist())


def same_rows(a: Path, b: Path, sweep: str) -> tuple[bool, dict[str, int]]:
    counts, same = {}, True
    for table in COMPARED:
        x, y = table_rows(a, sweep, table), table_rows(b, sweep, table)
        same &= x == y
        counts[table] = len(x)
    return same, counts


def part_pool(script: Path, workdir: Path, load_note: Any, verdict: Any) -> bool:
    print(
        f"\n(d) reused run actors: {POOL_RUNS} runs of exp1 with builtin/coordinate, --executor local vs "
        f"local Ray with {POOL_CPUS} CPUs, fresh process each, interleaved ({load_note()})"
    )
    sweep_file = write_sweep(workdir, "bench_pool", POOL_RUNS)
    results: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    for repeat in range(POOL_REPEATS):
        for executor in ("local", "ray"):
            out = workdir / f"pool_{executor}_{repeat}"
            r = run_child(script, ["--sweep-child", executor, str(sweep_file), f"output={out}"])
            r["out"] = out
            results[executor].append(r)
            start = (
                f" (Ray's start-up {r['ray_start']:.1f} s, then {r['wall'] - r['ray_start']:.1f} s)"
                if executor == "ray"
                else ""
            )
            print(
                f"    {executor:5s} #{repeat + 1}: wall {r['wall']:5.1f} s{start}; steady state "
                f"{r['steady']:.2f} runs/s; {r['runs']} runs, {r['failed']} not done ({load_note()})"
            )
    local = min(results["local"], key=lambda r: r["wall"])
    ray = min(results["ray"], key=lambda r: r["wall"])
    steady_local = max(r["steady"] for r in results["local"])
    steady_ray = max(r["steady"] for r in results["ray"])
    same, counts = same_rows(ray["out"], local["out"], "bench_pool")
    print(
        f"    best: local {local['wall']:.1f} s, Ray {ray['wall']:.1f} s of which Ray's start-up "
        f"{ray['ray_start']:.1f} s; rows compared {counts}"
    )
    ok = verdict(
        steady_ray >= MIN_STEADY * steady_local,
        f"(d) steady-state throughput Ray ≥ {MIN_STEADY}× local ({steady_ray:.2f} vs "
        f"{steady_local:.2f} runs/s: {steady_ray / steady_local:.2f}×)",
    )
    ok &= verdict(
        local["wall"] >= MIN_END_TO_END * ray["wall"],
        f"(d) end to end, Ray's start-up included, ≥ {MIN_END_TO_END}× faster than local "
        f"({local['wall']:.1f} s vs {ray['wall']:.1f} s: {local['wall'] / ray['wall']:.2f}×)",
    )
    ok &= verdict(
        same and all(r["failed"] == 0 for rs in results.values() for r in rs),
        "(d) identical runs/iterations/proposals/samples rows, every run done",
    )
    return ok


def part_many(script: Path, workdir: Path, load_note: Any, verdict: Any) -> bool:
    print(
        f"\n(e) many short runs on Ray ({POOL_CPUS} CPUs), exp1 builtin/coordinate, "
        f"{' '.join(MANY_OVERRIDES)} ({load_note()})"
    )
    memory = {}
    ok = True
    for n in MANY_RUNS:
        sweep_file = write_sweep(workdir, f"bench_many_{n}", n)
        out = workdir / f"many_{n}"
        r = run_child(script, ["--sweep-child", "ray", str(sweep_file), f"output={out}", *MANY_OVERRIDES])
        memory[n] = r["maxrss_mb"]
        files = [p for p in out.rglob("*") if p.is_file()]
        statuses = sum(1 for p in files if "_status" in p.parts)
        began = time.monotonic()
        analyzed = subprocess.run(
            [str(ROOT / ".venv/bin/paylab"), "analyze", str(out)], capture_output=True, text=True, check=False
        )
        analyze = time.monotonic() - began
        print(
            f"    {n:5d} runs: wall {r['wall']:6.1f} s (Ray's start-up {r['ray_start']:.1f} s) = "
            f"{(r['wall'] - r['ray_start']) / n * 1000:.0f} ms a run after it; steady state "
            f"{r['steady']:.1f} runs/s; driver peak memory {r['maxrss_mb']:.0f} MB; {len(files) - statuses} table "
            f"files after compaction (+ {statuses} status files); paylab analyze {analyze:.1f} s "
            f"(exit {analyzed.returncode}); {r['failed']} not done ({load_note()})"
        )
        ok &= r["failed"] == 0 and analyzed.returncode == 0
        if n == MANY_RUNS[-1]:
            ok &= verdict(
                analyze <= MAX_ANALYZE_SECONDS,
                f"(e) paylab analyze on {n} runs ≤ {MAX_ANALYZE_SECONDS:g} s ({analyze:.1f} s)",
            )
    small, big = memory[MANY_RUNS[0]], memory[MANY_RUNS[-1]]
    ok &= verdict(
        big <= MAX_MEMORY_GROWTH * small,
        f"(e) driver peak memory flat: {MANY_RUNS[-1]} runs {big:.0f} MB vs {MANY_RUNS[0]} "
        f"{small:.0f} MB ({big / small:.2f}×, target ≤ {MAX_MEMORY_GROWTH}×)",
    )
    return ok


def part_resume(script: Path, workdir: Path, load_note: Any, verdict: Any) -> bool:
    from sweep.store import ParquetStore
    from tests.sweep.helpers_e2e import kill_session

    print(
        f"\n(r) resume: the sweep of (d) on Ray, driver SIGKILLed after {KILL_AFTER} runs done, "
        f"then run to the end, vs an uninterrupted local run ({load_note()})"
    )
    sweep_file = write_sweep(workdir, "bench_resume", POOL_RUNS)
    reference = workdir / "resume_reference"
    run_child(script, ["--sweep-child", "local", str(sweep_file), f"output={reference}"])
    out = workdir / "resume_killed"
    env = {**os.environ, "RAY_TMPDIR": str(workdir / "ray")}
    for k in KILL_AFTER:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--sweep-child", "ray", str(sweep_file), f"output={out}"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None:
            statuses = ParquetStore(out).get_status("bench_resume") if (out / "_status").is_dir() else {}
            if sum(s.status == "done" for s in statuses.values()) >= k:
                break
            time.sleep(0.05)
        kill_session(proc)  # and its whole session: its Ray too
        done = sum(s.status == "done" for s in ParquetStore(out).get_status("bench_resume").values())
        print(f"    killed with {done} runs done")
    r = run_child(script, ["--sweep-child", "ray", str(sweep_file), f"output={out}"])
    same, counts = same_rows(out, reference, "bench_resume")
    for table in COMPARED if not same else ():  # which runs differ, and how
        got, want = table_rows(out, "bench_resume", table), table_rows(reference, "bench_resume", table)
        extra = [row for row in got if row not in want]
        missing = [row for row in want if row not in got]
        for kind, found in (("not in the clean run", extra), ("missing", missing)):
            for row in found[:4]:
                print(f"    {table} row {kind}: " + ", ".join(f"{k}={row[k]}" for k in list(row)[:6]))
    return verdict(
        same and r["failed"] == 0, f"(r) resumed after {len(KILL_AFTER)} kills: the same rows as a clean run ({counts})"
    )
