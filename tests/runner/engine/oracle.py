"""Run one scenario through the real SimCash engine and through paylab's engines, alike.

The oracle (``../shared/oracle/``, see its README) is SimCash's own Rust engine as a CLI.
`run_oracle` runs the two stages ``run_oracle.sh`` chains — ``scenario_to_oracle.py``
(SimCash's Python-layer mapping, in "engine" mode) then ``simcash-oracle -`` — but imports the
converter instead of starting a Python for it: the engine itself takes ~10 ms, a Python start
with PyYAML several times that, and the differential test runs hundreds of scenarios.
(`test_oracle_differential` checks once that the script and this path print the same JSON.)

`run_paylab` reads the same files the way ``paylab simulate --set eod_penalty_scope=overdue``
does (SimCash charges the end-of-day penalty on overdue payments only; docs/engine.md) and runs
the reference engine (with its event trace) or the batch engine.

Both return an `Outcome`: per-agent costs in paylab's component names, payment counts, and
each payment's settlement tick, so they compare with ``==`` and a failure shows the first
differing figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from runner.engine.batch import evaluate_batch
from runner.engine.rates import COMPONENTS
from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.scenario import load_scenario
from tests.conftest import COMPAT, ROOT

ORACLE_DIR = ROOT.parent / "shared" / "oracle"
ORACLE_SCRIPT = ORACLE_DIR / "run_oracle.sh"
ORACLE_BIN = ORACLE_DIR / "simcash-oracle"
CONVERTER = ORACLE_DIR / "scenario_to_oracle.py"
PAYLAB_OVERRIDES = ("eod_penalty_scope=overdue",)  # SimCash's end-of-day rule

# SimCash's cost keys -> paylab's components
ORACLE_COMPONENTS = {
    "liquidity_opportunity_cost": "liquidity_opportunity",
    "overdraft_cost": "overdraft",
    "delay_cost": "delay",
    "deadline_penalty": "deadline_penalty",
    "eod_penalty": "eod_penalty",
    "collateral_cost": "collateral",
    "split_friction_cost": "split_friction",
}
assert set(ORACLE_COMPONENTS.values()) == set(COMPONENTS)

# (sender, receiver, amount, arrival tick, settlement tick or -1)
Payment = tuple[str, str, int, int, int]


def oracle_missing() -> str | None:
    """Why the oracle cannot run here (None when it can)."""
    for path in (ORACLE_BIN, CONVERTER, ORACLE_SCRIPT):
        if not path.is_file():
            return f"{path} is absent (only paylab's CI machine has the SimCash oracle)"
    if not COMPAT.is_dir():
        return f"{COMPAT} is absent (the oracle reads SimCash's built-in policies from it)"
    return None


@dataclass(frozen=True)
class Outcome:
    """What both sides report for one run: costs to the cent, counts, settlement ticks."""

    costs: dict[str, dict[str, int]]  # agent -> component -> cents
    arrived: dict[str, int]
    settled: dict[str, int]
    payments: tuple[Payment, ...]  # sorted
    balances: dict[str, int]  # after the last tick (pooled liquidity returned)
    events: list[dict[str, Any]] = field(default_factory=list, compare=False)
    # SimCash only: (sender, amount) of payments settled in the tick after their deadline,
    # and its LSM counters (bilateral_offsets, cycles, …)
    settled_first_overdue: tuple[tuple[str, int], ...] = field(default=(), compare=False)
    lsm: dict[str, Any] = field(default_factory=dict, compare=False)
    lsm_ticks: dict[int, dict[str, int]] = field(default_factory=dict, compare=False)

    def total(self, agent: str) -> int:
        return sum(self.costs[agent].values())


def write_case(folder: Path, scenario: dict[str, Any], policies: dict[str, dict[str, Any]]) -> Path:
    """Write the scenario YAML and its policy JSON files (named in the scenario) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in policies.items():
        (folder / name).write_text(json.dumps(doc, indent=1))
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


@cache
def _converter() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scenario_to_oracle", CONVERTER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def oracle_json(path: Path, via_script: bool = False) -> dict[str, Any]:
    """The oracle's JSON report for the scenario file ``path``."""
    env = {**os.environ, "SIMCASH_ROOT": str(COMPAT), "LSM_DEBUG": "1"}
    if via_script:
        proc = subprocess.run(
            [str(ORACLE_SCRIPT), str(path)], capture_output=True, text=True, env=env, timeout=120, check=False
        )
    else:
        conv = _converter()
        conv.WARNINGS.clear()
        config = conv.convert(path)
        proc = subprocess.run(
            [str(ORACLE_BIN), "-"],
            input=json.dumps(config),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"simcash-oracle failed on {path} (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    report["lsm_debug"] = lsm_debug_ticks(proc.stderr)
    return report


def lsm_debug_ticks(stderr: str) -> dict[int, dict[str, int]]:
    """Per tick, from SimCash's ``LSM_DEBUG`` lines: how many rounds found 3+-bank cycles
    (``found_rounds``), ``cycles_settled``, ``bilateral_offsets`` and the LSM's settled
    ``value`` in cents (which includes what its internal queue retries settle)."""
    ticks: dict[int, dict[str, int]] = {}
    for line in stderr.splitlines():
        m = re.match(r"\[LSM DEBUG\] Tick (\d+): (.*)", line)
        if not m:
            continue
        row = ticks.setdefault(int(m[1]), {"found_rounds": 0, "cycles_settled": 0, "bilateral_offsets": 0, "value": 0})
        text = m[2]
        found = re.match(r"Processing (\d+) cycles", text)
        if found and int(found[1]) > 0:
            row["found_rounds"] += 1
        result = re.match(
            r"LSM result: bilateral_offsets=(\d+), cycles_settled=(\d+), "
            r"total_value=\$([\d.]+)",
            text,
        )
        if result:
            row["bilateral_offsets"] = int(result[1])
            row["cycles_settled"] = int(result[2])
            row["value"] = round(float(result[3]) * 100)
    return ticks


def run_oracle(path: Path) -> Outcome:
    """SimCash's outcome for the scenario file ``path``."""
    report = oracle_json(path)
    agents = report["agents"]
    costs = {
        a: {ours: int(row["costs"][theirs]) for theirs, ours in ORACLE_COMPONENTS.items()} for a, row in agents.items()
    }
    payments = tuple(
        sorted(
            (
                tx["sender"],
                tx["receiver"],
                int(tx["amount"]),
                int(tx["arrival_tick"]),
                int(tx["settled_tick"]) if tx["settled"] else -1,
            )
            for tx in report["tx_list"]
        )
    )
    late = tuple(
        (tx["sender"], int(tx["amount"]))
        for tx in report["tx_list"]
        if tx["settled"] and int(tx["settled_tick"]) == int(tx["deadline_tick"]) + 1
    )
    return Outcome(
        costs,
        {a: int(row["transactions_sent"]["arrived"]) for a, row in agents.items()},
        {a: int(row["transactions_sent"]["settled"]) for a, row in agents.items()},
        payments,
        {a: int(row["final_balance"]) for a, row in agents.items()},
        settled_first_overdue=late,
        lsm=dict(report.get("lsm", {})),
        lsm_ticks=report["lsm_debug"],
    )


def run_paylab(path: Path, engine: str = "reference") -> Outcome:
    """paylab's outcome for ``path``, read as ``paylab simulate`` reads it, on one engine.

    ``engine`` is "reference" (the plain engine, with its event trace in `Outcome.events`) or
    "batch" (the vectorised engine, a batch of one sample).
    """
    scenario = load_scenario(path, PAYLAB_OVERRIDES)
    # paylab simulate builds a reference setup; the batch setup refuses what batch lacks
    setup = build_setup(scenario, {}, engine="reference" if engine == "reference" else "batch")
    schedule = generate_schedule(scenario.config, scenario.config.simulation.rng_seed, setup.horizon)
    events: list[dict[str, Any]] = []
    if engine == "reference":
        table, events = ReferenceEngine(setup).run(schedule, trace=True)
    elif engine == "batch":
        table = evaluate_batch(setup, [schedule])
    else:
        raise ValueError(f"unknown engine {engine!r}")
    report = table.report(0)
    ids = setup.agent_ids
    settle = table.settle_ticks[0]
    payments = tuple(
        sorted(
            (
                ids[int(schedule.sender[i])],
                ids[int(schedule.receiver[i])],
                int(schedule.amount[i]),
                int(schedule.arrival[i]),
                int(settle[i]),
            )
            for i in range(schedule.n_payments)
        )
    )
    agents = report["agents"]
    return Outcome(
        {a: dict(row["costs"]) for a, row in agents.items()},
        {a: int(row["arrived"]) for a, row in agents.items()},
        {a: int(row["settled"]) for a, row in agents.items()},
        payments,
        {a: int(table.final_balance[0, i]) for i, a in enumerate(ids)},
        events,
    )
