"""Engine A/B: this tree's batch engine against a git revision's, on the same cases.

Run from the repository root: ``.venv/bin/python benchmarks/engine_ab.py --base REV``
(``REV``: any git revision, e.g. the commit before a change; default ``HEAD``, to time
uncommitted changes). The revision is checked out into a temporary git worktree (removed at
the end); each round runs every case once in a fresh process per engine, base and current
alternating, so that both see the same load on a shared machine; a case's figure is its
best CPU time over all rounds (`time.process_time`, numeric libraries on one thread). The
workers run with glibc's malloc thresholds fixed (`FIXED_MALLOC`): left to move with the
allocation history, they decide whether a case's large arrays get fresh memory (paying a
page fault per page) or reuse freed memory, which depends on everything the process did
before (the modules it imported, the cases before) and moved the exp2 case at
``initial_liquidity_fraction`` 0.05 between 12 and 15 ms on either engine. The
cases — the scenarios, policies and samples — are this tree's (`benchmarks/engine.py`), so
both engines run exactly the same days; a revision whose API differs from this tree's (the
setup and schedule functions this file imports) cannot be compared.

This is how "no other case slower by more than 10 %" is checked for an engine change
(``MAX_SLOWDOWN``); exit status 1 if a case is slower than that.

Cases: the exp2 shape at 1 000 samples (policy "Release", ``initial_liquidity_fraction``
0.5 and 0.05), the 50-bank day with ample and scarce liquidity on "Release" and scarce under
the tree of SimCash's ``LiquiditySplitting`` releasing whole where it would split (a tree
that walks), the two splitting days of `benchmarks/engine.py` (``LiquiditySplitting`` and
"split in 4"), the 50-bank LSM days (pools 200 000 and 50 000) and the gridlocked episode
under limits of `benchmarks/gridlock.py`; 1 and 10 samples each.
A case the base cannot run (a splitting day on a revision before splitting) is shown
without a ratio; one this tree cannot run is an error.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: figures per core

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MAX_SLOWDOWN = 1.10  # current / base CPU time, per case
# glibc reads these at start-up (other C libraries ignore them): large arrays come from and
# go back to the heap, whatever the process allocated before (see the module doc)
FIXED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(2**28), "MALLOC_TRIM_THRESHOLD_": str(2**28)}
LIQUIDITY_SPLITTING = ROOT / "runner/policy/library/liquidity_splitting.json"


def run_cases(repeats: int) -> dict[str, float | str]:
    """Every case's best CPU time (seconds) over ``repeats`` timed runs after one warm-up,
    with whatever engine ``runner`` resolves to in this process; a case that engine cannot
    run (e.g. a splitting day on a revision before splitting) gets its one-line error."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import engine as bench  # this tree's cases, whatever engine `runner` is
    import gridlock

    from runner.engine.batch import evaluate_batch
    from runner.engine.schedule import generate_schedule
    from runner.engine.setup import EngineSetup, build_setup
    from runner.policy import parse_valid_policy
    from runner.scenario import load_scenario
    from runner.scenario.loader import Scenario

    def best(setup: EngineSetup, schedules: list[Any]) -> float:
        evaluate_batch(setup, schedules)
        times = []
        for _ in range(repeats):
            start = time.process_time()
            evaluate_batch(setup, schedules)
            times.append(time.process_time() - start)
        return min(times)

    def liquidity_splitting(scenario: Scenario, split: bool) -> EngineSetup:
        """SimCash's LiquiditySplitting read from this tree's file (a revision without the
        named policy still runs the tree releasing whole)."""
        doc = json.loads(LIQUIDITY_SPLITTING.read_text())
        tree = doc["payment_tree"] if split else bench.splits_released(doc["payment_tree"])
        policy = parse_valid_policy(
            {"parameters": {**doc["parameters"], "initial_liquidity_fraction": 1.0}, "payment_tree": tree}
        )
        return build_setup(scenario, dict.fromkeys(scenario.agent_ids, policy))

    exp2 = load_scenario(ROOT / bench.EXP2)
    scarce = bench.bank50_scenario(50_000)
    days: list[tuple[str, Scenario, Callable[[], EngineSetup], tuple[int, ...]]] = [
        (f"exp2 Release {f}", exp2, partial(bench.release_setup, exp2, f), (1000,)) for f in (0.5, 0.05)
    ]
    for pool, name in ((1_000_000, "ample"), (50_000, "scarce")):
        scenario = bench.bank50_scenario(pool)
        days.append((f"50 banks {name}, Release", scenario, partial(bench.release_setup, scenario, 1.0), (1, 10)))
    days += [
        ("50 banks scarce, LiquiditySplitting whole", scarce, partial(liquidity_splitting, scarce, False), (1, 10)),
        ("50 banks scarce, LiquiditySplitting", scarce, partial(liquidity_splitting, scarce, True), (1, 10)),
        ("50 banks scarce, split in 4", scarce, partial(bench.split_setup, scarce), (1, 10)),
    ]
    for lsm_pool in ("200k", "50k"):
        scenario = load_scenario(ROOT / f"benchmarks/scenarios/bank50_lsm_pool{lsm_pool}.yaml")
        days.append((f"50 banks LSM pool {lsm_pool}", scenario, partial(build_setup, scenario), (1, 10)))
    grid = gridlock.gridlock_scenario()
    days.append(("gridlock under limits, 3 days", grid, partial(gridlock.fifo_setup, grid), (1, 10)))
    out: dict[str, float | str] = {}
    for name, scenario, make, sizes in days:
        for n in sizes:
            case = f"{name}, {n} sample{'s' if n > 1 else ''}"
            schedules = [generate_schedule(scenario.config, i) for i in range(n)]
            try:
                out[case] = best(make(), schedules)
            except Exception as exc:  # noqa: BLE001  (reported per case: this engine cannot run it)
                out[case] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return out


def timed_in(tree: Path, repeats: int) -> dict[str, float | str]:
    """`run_cases` in a fresh process whose ``runner`` is ``tree``'s."""
    env = {**os.environ, **FIXED_MALLOC, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--repeats", str(repeats)]
    # cwd outside both trees: `runner` resolves through PYTHONPATH only
    done = subprocess.run(cmd, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"engine_ab: the cases failed with the engine of {tree}: {last}")
    result: dict[str, float | str] = json.loads(done.stdout)
    return result


def compare(base: str, rounds: int, repeats: int) -> int:
    with tempfile.TemporaryDirectory(prefix="paylab-ab-") as tmp:
        tree = Path(tmp) / "base"
        add = ["git", "-C", str(ROOT), "worktree", "add", "--quiet", "--detach", str(tree), base]
        if subprocess.run(add, capture_output=True, text=True, check=False).returncode != 0:
            raise SystemExit(f"engine_ab: --base {base!r} is not a revision of this repository")
        try:
            commit = subprocess.run(
                ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
            print(
                f"paylab engine A/B: this tree against {base} ({commit}), {rounds} rounds × {repeats} repeats, CPU time"
            )
            runs: dict[str, list[dict[str, float | str]]] = {"base": [], "current": []}
            for _ in range(rounds):
                runs["base"].append(timed_in(tree, repeats))
                runs["current"].append(timed_in(ROOT, repeats))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    return report(runs)


def report(runs: dict[str, list[dict[str, float | str]]]) -> int:
    """The table and the verdict; a case this tree cannot run is an error, one the base
    cannot run is shown without a ratio."""
    failed = {case: v for case, v in runs["current"][0].items() if isinstance(v, str)}
    if failed:
        case, error = next(iter(failed.items()))
        raise SystemExit(f"engine_ab: this tree cannot run the case {case!r}: {error}")
    print(f"\n  {'case':<56}{'base ms':>10}{'current ms':>12}{'ratio':>8}")
    worst = 0.0
    for case in runs["current"][0]:
        c = min(float(r[case]) for r in runs["current"])
        base = [r[case] for r in runs["base"]]
        base_error = next((b for b in base if isinstance(b, str)), None)
        if base_error is not None:
            print(f"  {case:<56}{'n/a':>10}{c * 1000:>12.2f}{'':>8}  (the base: {base_error})")
            continue
        b = min(float(x) for x in base)
        worst = max(worst, c / b)
        print(f"  {case:<56}{b * 1000:>10.2f}{c * 1000:>12.2f}{c / b:>8.2f}")
    ok = worst <= MAX_SLOWDOWN
    print(f"\n{'PASS' if ok else 'FAIL'}  no case slower than {MAX_SLOWDOWN}× the base: worst {worst:.2f}×")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the git revision to compare against (default HEAD)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case and round (default 5)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be ≥ 1")
    if args.worker:
        print(json.dumps(run_cases(args.repeats)))
        return 0
    return compare(args.base, args.rounds, args.repeats)


if __name__ == "__main__":
    sys.exit(main())
