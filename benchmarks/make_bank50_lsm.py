"""Write the 50-bank LSM benchmark scenarios (``benchmarks/scenarios/bank50_lsm_pool*.yaml``).

50 banks × 100 ticks, Poisson 2 payments per bank per tick (log-normal amounts of mean 10 000
cents), deadlines 3–8 ticks after arrival, deferred crediting, bilateral offsetting and cycles
(``max_cycle_length`` 4), every bank on Fifo with its whole pool. SimCash format, so that
paylab and SimCash's engine (``../shared/oracle/run_oracle.sh``) read the same file; SimCash's
loader needs explicit counterparty weights, so every other bank is listed with weight 1.0
(uniform, as when none is listed). Run ``.venv/bin/python benchmarks/make_bank50_lsm.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

POOLS = (200_000, 50_000)
HERE = Path(__file__).parent / "scenarios"


# The cost rates of every 50-bank benchmark day (Castro exp2's): shared with benchmarks/engine.py.
COST_RATES = {
    "liquidity_cost_per_tick_bps": 83,
    "delay_cost_per_tick_per_cent": 0.2,
    "overdraft_bps_per_tick": 0,
    "collateral_cost_per_tick_bps": 0,
    "eod_penalty_per_transaction": 100_000,
    "deadline_penalty": 50_000,
    "split_friction_cost": 0,
}


def bank50_lsm(pool: int) -> dict[str, Any]:
    ids = [f"BANK_{i:02d}" for i in range(50)]
    agents = [
        {
            "id": me,
            "opening_balance": 0,
            "unsecured_cap": 0,
            "liquidity_pool": pool,
            "liquidity_allocation_fraction": 1.0,
            "policy": {"type": "Fifo"},
            "arrival_config": {
                "rate_per_tick": 2.0,
                "amount_distribution": {"type": "LogNormal", "mean": 10_000, "std_dev": 5_000},
                "counterparty_weights": {other: 1.0 for other in ids if other != me},
                "deadline_range": [3, 8],
            },
        }
        for me in ids
    ]
    return {
        "simulation": {"ticks_per_day": 100, "num_days": 1, "rng_seed": 50},
        "deferred_crediting": True,
        "deadline_cap_at_eod": True,
        "cost_rates": dict(COST_RATES),
        "lsm_config": {
            "enable_bilateral": True,
            "enable_cycles": True,
            "max_cycle_length": 4,
            "max_cycles_per_tick": 10,
        },
        "agents": agents,
    }


def path_for(pool: int) -> Path:
    return HERE / f"bank50_lsm_pool{pool // 1000}k.yaml"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for pool in POOLS:
        header = (
            f"# Written by benchmarks/make_bank50_lsm.py (pool {pool} cents per bank): paylab and SimCash read it.\n"
        )
        text = yaml.safe_dump(bank50_lsm(pool), sort_keys=False, default_flow_style=None, width=100)
        path_for(pool).write_text(header + text)


if __name__ == "__main__":
    main()
