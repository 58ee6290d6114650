"""Plot benchmark: a sweep's figures for 2 000 runs, against the same for a real small sweep.

Run from the repository root: ``.venv/bin/python benchmarks/plots.py [--runs 2000]``.

1. A real small sweep runs first (``--executor local``: Castro exp1 and exp2 × the two
   offline proposers × 2 replicates, 3 iterations). Its figures are timed: the baseline.
2. From its rows, a 2 000-run sweep is synthesised in the same Parquet layout (one file per
   run and table, as a compacted run leaves it): runs rows copied with new run ids,
   replicates, costs, stop reasons and 2 % failed runs; each run's proposals copied; and
   12 LLM calls per run over three models with ~2 kB prompts — the LLM figure is drawn too.
   Only the tables the sweep figures read are written (runs, proposals, llm_calls).
3. Timed, best of ``--repeat``, each from a fresh store: reading the tables
   (`ResultStore.read`), building the frames, drawing and saving the PNGs — what
   ``paylab plot OUT`` does. One run's figures are timed as well.

Prints seconds per stage, the ratio to the small sweep and per run, and checks the target:
the 2 000-run sweep's figures in under 10 s (exit status 1 if not). Note the load average:
the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# benchmarks/sweep.py would shadow the sweep package: import from the repository root instead
sys.path[0] = str(Path(__file__).resolve().parents[1])

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from sweep.plots.figures import run_figures, sweep_figures, write_figures  # noqa: E402
from sweep.plots.source import SweepTables, open_sweeps  # noqa: E402
from sweep.store import open_store  # noqa: E402
from sweep.tables import SCHEMAS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0
SMALL, BIG = "bench_small", "bench_big"
MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-5", "builtin/coordinate")
CALLS_PER_RUN = 12


def small_sweep(work: Path) -> Path:
    """Run the real small sweep; returns its output folder."""
    doc = {
        "name": SMALL,
        "experiments": [str(ROOT / f"experiments/castro/exp{i}.yaml") for i in (1, 2)],
        "grid": {"llm.model": ["builtin/coordinate", "builtin/none"]},
        "replicates": 2,
        "output": "out",
    }
    (work / "small.yaml").write_text(json.dumps(doc))
    paylab = Path(sys.executable).parent / "paylab"
    subprocess.run(
        [
            str(paylab),
            "sweep",
            str(work / "small.yaml"),
            "--executor",
            "local",
            "--quiet",
            "evaluation.num_samples=10",
            "evaluation.reference_samples=20",
            "convergence.max_iterations=3",
            f"output={work / 'out'}",
        ],
        check=True,
        cwd=work,
        stdout=subprocess.DEVNULL,
    )
    return work / "out"


def _write(root: Path, table: str, run_id: str, rows: list[dict[str, Any]], schema: Any) -> None:
    folder = root / table / f"sweep={BIG}"
    folder.mkdir(parents=True, exist_ok=True)
    data = pa.Table.from_pylist(rows, schema=schema).drop_columns(["sweep"])
    pq.write_table(data, folder / f"{run_id}.parquet")


def synthesise(small: Path, root: Path, n_runs: int) -> None:
    """``n_runs`` runs of sweep `BIG` under ``root``, modelled on the small sweep's rows."""
    store = open_store(str(small))
    runs = store.read("runs", sweep=SMALL)
    proposals = store.read("proposals", sweep=SMALL).to_pylist()
    templates = runs.to_pylist()
    runs_schema = runs.schema
    rng = random.Random(1)
    prompt = json.dumps([{"role": "system", "content": "x" * 1500}, {"role": "user", "content": "y" * 500}])
    for k in range(n_runs):
        t = templates[k % len(templates)]
        run_id = f"{t['run_id'].rsplit('-', 1)[0]}-{k:05d}"
        failed = k % 50 == 7
        model = MODELS[k % len(MODELS)]
        row = {
            **t,
            "sweep": BIG,
            "run_id": run_id,
            "replicate": k // len(templates),
            "model": model,
            "param_llm__model": model,
            "status": "failed" if failed else "done",
            "error": "LLMError: provider timed out" if failed else None,
        }
        if failed:
            row.update(final_total_cost=None, iterations=None, stop_reason=None, final_settlement_rate=None)
        else:
            row.update(
                final_total_cost=int(t["final_total_cost"] * rng.uniform(0.6, 1.4)),
                iterations=rng.randint(2, 25),
                stop_reason=rng.choice(("converged", "max_iterations")),
            )
        _write(root, "runs", run_id, [row], runs_schema)
        mine = [{**p, "sweep": BIG, "run_id": run_id} for p in proposals if p["run_id"] == t["run_id"]]
        _write(root, "proposals", run_id, mine, SCHEMAS["proposals"])
        calls = (
            [
                {
                    "sweep": BIG,
                    "run_id": run_id,
                    "iteration": 1 + c // 2,
                    "agent": f"BANK_{'AB'[c % 2]}",
                    "call": 1,
                    "attempt": 1,
                    "model": model,
                    "messages_json": prompt,
                    "response": "{}" * 200,
                    "reasoning": None,
                    "parsed_policy_json": None,
                    "validation_errors_json": "[]",
                    "error": "timeout" if c == 11 and k % 9 == 0 else None,
                    "prompt_tokens": rng.randint(800, 1200),
                    "completion_tokens": rng.randint(100, 300),
                    "cost_usd": rng.uniform(0.001, 0.01),
                    "latency_s": rng.lognormvariate(0.5, 0.6),
                    "schema_version": 2,
                }
                for c in range(CALLS_PER_RUN)
            ]
            if not model.startswith("builtin/")
            else []
        )
        _write(root, "llm_calls", run_id, calls, SCHEMAS["llm_calls"])


def time_sweep(root: Path, sweep: str, out: Path) -> tuple[dict[str, float], SweepTables]:
    """Wall and CPU seconds to read, build and draw + save the sweep's figures (fresh store)."""
    marks = [(time.perf_counter(), time.process_time())]
    (tables,) = open_sweeps(open_store(str(root)), str(root), sweep)
    tables.runs(), tables.proposal_counts(), tables.table("llm_calls")
    marks.append((time.perf_counter(), time.process_time()))
    figures = sweep_figures(tables, ["scenario", "model"])
    marks.append((time.perf_counter(), time.process_time()))
    write_figures(figures, out, "png")
    marks.append((time.perf_counter(), time.process_time()))
    out_times: dict[str, float] = {"figures": float(len(figures))}
    for k, key in enumerate(("read", "frames+draw", "save png")):
        out_times[key] = marks[k + 1][0] - marks[k][0]
        out_times[key + " cpu"] = marks[k + 1][1] - marks[k][1]
    out_times["total"] = marks[-1][0] - marks[0][0]
    out_times["total cpu"] = marks[-1][1] - marks[0][1]
    out_times["drawing"] = marks[-1][0] - marks[1][0]
    out_times["drawing cpu"] = marks[-1][1] - marks[1][1]
    return out_times, tables


def best(runs: list[tuple[dict[str, float], SweepTables]]) -> tuple[dict[str, float], SweepTables]:
    return min(runs, key=lambda r: r[0]["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="paylab-bench-plots-"))
    try:
        small = small_sweep(work)
        t = time.perf_counter()
        synthesise(small, work / "big", args.runs)
        print(f"synthesised {args.runs} runs in {time.perf_counter() - t:.1f} s (not timed below)")
        n_small = len(open_store(str(small)).read("runs", sweep=SMALL))
        base, _ = best([time_sweep(small, SMALL, work / "figs") for _ in range(args.repeat)])
        big, tables = best([time_sweep(work / "big", BIG, work / "figs") for _ in range(args.repeat)])
        t = time.perf_counter()
        one = run_figures(tables, tables.run_ids()[0])
        write_figures(one, work / "figs", "png")
        one_run = time.perf_counter() - t
        print(
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared machine: CPU seconds "
            "are the steadier figure)"
        )
        print(f"{'stage':<13}{f'{n_small} runs':>10}{f'{args.runs} runs':>11}{'ratio':>7}{'cpu':>9}{'cpu':>9}")
        for key in ("read", "frames+draw", "save png", "drawing", "total"):
            print(
                f"{key:<13}{base[key]:>9.2f}s{big[key]:>10.2f}s{big[key] / base[key]:>7.1f}"
                f"{base[key + ' cpu']:>8.2f}s{big[key + ' cpu']:>8.2f}s"
            )
        print("(drawing = frames+draw + save png; read = ResultStore.read of runs, proposals, llm_calls)")
        print(
            f"figures: {int(big['figures'])} (final cost, settlement, stop reasons, LLM); "
            f"per run {1000 * big['total'] / args.runs:.2f} ms vs {1000 * base['total'] / n_small:.2f} ms"
        )
        print(f"one run's two figures (its sweep's tables already read): {one_run:.2f} s")
        ok = big["total"] < TARGET_S
        print(
            f"target: {args.runs}-run sweep figures, read and drawn, in < {TARGET_S:.0f} s wall: "
            f"{'PASS' if ok else 'FAIL'} ({big['total']:.2f} s; CPU {big['total cpu']:.2f} s; "
            f"drawing alone {big['drawing']:.2f} s)"
        )
        if not ok:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
