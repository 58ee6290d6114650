"""A gridlocked multi-day episode under payment limits: how the batch engine's settlement
pass copes with long queues that are mostly stuck.

The shape of SimCash's TARGET2 crisis examples, without their files: banks paying each
other with immediate crediting (an inflow can pay the next payment in the same pass), every
bank under a multilateral limit (and a bilateral one towards its neighbour) well below what
it is asked to pay in a day, so most payments wait in Queue 2 across days. With limits (or
immediate crediting) the pass cannot settle a lane's run at once: it steps through each
sample's queue in order, and `runner.engine.batch_settlement.may_settle` first rules out
the payments that cannot settle in it (over a limit, or above what their sender can have
by their turn), so the steps are the few that might.

Printed: the batch engine (all shortcuts), the same engine with ``fast=False`` (every
shortcut off: it steps through every queued payment, as the pass did under limits before
`may_settle`) and the reference engine, on 1 and 10 samples; CPU times, best of 3 after a
warm-up, and the ratios against the batch engine; every result compared for identity.

Run: ``.venv/bin/python benchmarks/gridlock.py``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: figures per core

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from runner.engine.batch import evaluate_batch  # noqa: E402
from runner.engine.reference import ReferenceEngine  # noqa: E402
from runner.engine.results import CostTable  # noqa: E402
from runner.engine.schedule import generate_schedule  # noqa: E402
from runner.engine.setup import EngineSetup, build_setup  # noqa: E402
from runner.policy import named_policy, parse_valid_policy  # noqa: E402
from runner.scenario import scenario_from_dict  # noqa: E402
from runner.scenario.loader import Scenario  # noqa: E402

SAMPLES = (1, 10)
REPEATS = 3


def gridlock_scenario(banks: int = 8, days: int = 3, ticks: int = 100) -> Scenario:
    """``banks`` banks over ``days`` days of ``ticks`` ticks, Poisson 1 payment per bank per
    tick (log-normal, mean 10 000 cents), immediate crediting, LSM off, each bank's
    multilateral limit 60 % of its expected daily outflow and its bilateral limit towards
    the next bank a quarter of that."""
    daily = ticks * 10_000
    agents = [
        {
            "id": f"BANK_{i}",
            "opening_balance": 200_000,
            "unsecured_cap": 100_000,
            "multilateral_limit": 6 * daily // 10,
            "bilateral_limits": {f"BANK_{(i + 1) % banks}": 6 * daily // 40},
            "arrival_config": {
                "rate_per_tick": 1.0,
                "amount_distribution": {"type": "LogNormal", "mean": 10_000, "std_dev": 5_000},
                "deadline_range": [5, 30],
            },
        }
        for i in range(banks)
    ]
    raw = {
        "simulation": {"ticks_per_day": ticks, "num_days": days, "rng_seed": 11},
        "cost_rates": {
            "delay_cost_per_tick_per_cent": 0.0001,
            "deadline_penalty": 5_000,
            "eod_penalty_per_transaction": 10_000,
        },
        "lsm_config": {"enable_bilateral": False, "enable_cycles": False},
        "agents": agents,
    }
    return scenario_from_dict(raw, source="benchmarks/gridlock.py:gridlock_scenario")


def fifo_setup(scenario: Scenario) -> EngineSetup:
    return build_setup(scenario, dict.fromkeys(scenario.agent_ids, parse_valid_policy(named_policy("Fifo"))))


def best_cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    """The warm-up's result and the best CPU time of ``REPEATS`` runs."""
    result = fn()
    times = []
    for _ in range(REPEATS):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times), result


def main() -> int:
    scenario = gridlock_scenario()
    setup = fifo_setup(scenario)
    reference = ReferenceEngine(setup)
    print(
        "Gridlock under limits — 8 banks × 3 days × 100 ticks, Poisson 1/bank/tick, immediate crediting,\n"
        "multilateral limits at 60 % of the daily outflow; CPU seconds, best of 3 (ratio: × the batch engine)"
    )
    print(f"  {'samples':>8}{'batch':>9}{'fast=False':>12}{'ratio':>7}{'reference':>11}{'ratio':>7}  settled  same")
    identical = True
    for n in SAMPLES:
        schedules = [generate_schedule(scenario.config, s) for s in range(n)]
        fast, table = best_cpu(lambda: evaluate_batch(setup, schedules))  # noqa: B023
        simple, simple_table = best_cpu(lambda: evaluate_batch(setup, schedules, fast=False))  # noqa: B023
        ref, ref_table = best_cpu(lambda: CostTable.concat([reference.run(s)[0] for s in schedules]))  # noqa: B023
        same = all(
            table.same_summary(other) and (table.settle_tick == other.settle_tick).all()
            for other in (simple_table, ref_table)
        )
        identical &= same
        rate = float(table.settlement_rates().mean())
        print(
            f"  {n:>8}{fast:>9.3f}{simple:>12.3f}{simple / fast:>7.1f}{ref:>11.3f}{ref / fast:>7.1f}"
            f"  {rate:>6.1%}  {'yes' if same else 'NO'}"
        )
    print(f"{'PASS' if identical else 'FAIL'}  batch results identical to fast=False and to the reference")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
