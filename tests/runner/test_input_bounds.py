"""The scenario bounds (`runner.scenario.bounds`) and strict numbers, systematically.

* Strict numbers: every numeric value of a fully populated scenario, experiment and sweep,
  replaced by a numeric string, a boolean, ``.inf`` or ``.nan``, is refused naming its path.
* Each bound at its edge: just below or at is accepted, just above is refused naming the field.
* Soundness: scenarios with extreme magnitudes that the bounds accept run in both engines
  with identical, non-negative costs (hypothesis), so no accepted input can overflow int64.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.engine.batch import evaluate_batch
from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.errors import ConfigError
from runner.experiment.config import ExperimentConfig
from runner.scenario import bounds as B
from runner.scenario import scenario_from_dict
from sweep.spec import load_sweep
from tests.conftest import EXPERIMENTS

EXP1 = EXPERIMENTS / "castro" / "scenarios" / "exp1.yaml"


def full_scenario() -> dict[str, Any]:
    """A scenario that sets every numeric key the models know."""
    arrivals = {
        "rate_per_tick": 0.5,
        "amount_distribution": {"type": "Uniform", "min": 100, "max": 500},
        "counterparty_weights": {"B": 1.0},
        "deadline_range": [2, 4],
        "priority": {"type": "Categorical", "values": [1, 9], "weights": [0.5, 0.5]},
    }
    return {
        "simulation": {"ticks_per_day": 4, "num_days": 2, "rng_seed": 7},
        "cost_rates": {
            "overdraft_bps_per_tick": 1.0,
            "delay_cost_per_tick_per_cent": 0.01,
            "collateral_cost_per_tick_bps": 0.5,
            "liquidity_cost_per_tick_bps": 2.0,
            "eod_penalty": {"mode": "rate", "bps_per_event": 50.0},
            "deadline_penalty": {"mode": "fixed", "amount": 700},
            "split_friction_cost": 10,
            "overdue_delay_multiplier": 3.0,
            "priority_delay_multipliers": {"urgent_multiplier": 2.0, "normal_multiplier": 1.0, "low_multiplier": 0.5},
        },
        "agents": [
            {
                "id": "A",
                "opening_balance": 1000,
                "unsecured_cap": 500,
                "liquidity_pool": 2000,
                "liquidity_allocation_fraction": 0.5,
                "collateral_haircut": 0.1,
                "arrival_config": arrivals,
            },
            {
                "id": "B",
                "opening_balance": 800,
                "unsecured_cap": 0,
                "arrival_config": {
                    **arrivals,
                    "counterparty_weights": {"A": 2.0},
                    "amount_distribution": {"type": "LogNormal", "mean": 300.0, "std_dev": 50.0},
                },
            },
        ],
        "scenario_events": [
            {
                "type": "CustomTransactionArrival",
                "from_agent": "A",
                "to_agent": "B",
                "amount": 250,
                "priority": 5,
                "deadline": 3,
                "schedule": {"type": "OneTime", "tick": 1},
            },
            {
                "type": "DirectTransfer",
                "from_agent": "B",
                "to_agent": "A",
                "amount": 100,
                "schedule": {"type": "Repeating", "start_tick": 0, "interval": 3},
            },
            {
                "type": "AgentArrivalRateChange",
                "agent": "A",
                "multiplier": 1.5,
                "schedule": {"type": "OneTime", "tick": 2},
            },
            {"type": "GlobalArrivalRateChange", "multiplier": 0.5, "schedule": {"type": "OneTime", "tick": 5}},
        ],
        "eod_rush_threshold": 0.7,
        "lsm_config": {"enable_cycles": False, "max_cycle_length": 4, "max_cycles_per_tick": 3},
    }


def full_experiment() -> dict[str, Any]:
    return {
        "name": "x",
        "scenario": str(EXP1),
        "master_seed": 3,
        "optimized_agents": ["BANK_A"],
        "evaluation": {
            "mode": "bootstrap",
            "num_samples": 5,
            "ticks": 2,
            "context_days": 1,
            "reference_samples": 4,
            "acceptance": {"rule": "ci", "confidence": 0.9, "settlement_floor": 0.5},
        },
        "convergence": {"max_iterations": 3, "stability_threshold": 0.1, "stability_window": 2},
        "llm": {
            "model": "builtin/coordinate",
            "temperature": 0.5,
            "max_retries": 2,
            "timeout_seconds": 30.0,
            "transport_retries": 1,
            "backoff_seconds": 0.5,
        },
        "policy_constraints": {
            "allowed_parameters": [
                {"name": "initial_liquidity_fraction", "param_type": "float", "min_value": 0.0, "max_value": 1.0}
            ]
        },
    }


def numeric_leaves(value: Any, path: str = "") -> Iterator[tuple[str, tuple[str | int, ...], Any]]:
    """(dotted path, key path, value) of every number in a document."""

    def walk(node: Any, keys: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, (*keys, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, (*keys, i))
        elif isinstance(node, int | float) and not isinstance(node, bool):
            yield keys, node

    for keys, number in walk(value, ()):
        dotted = ""
        for k in keys:
            dotted += f"[{k}]" if isinstance(k, int) else (f".{k}" if dotted else str(k))
        yield dotted, keys, number


def replaced(doc: dict[str, Any], keys: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return out


def scenario_error(doc: dict[str, Any]) -> str | None:
    try:
        scenario_from_dict(doc, source="s.yaml")
    except ConfigError as exc:
        return str(exc)
    return None


def _wrong(number: Any) -> list[Any]:
    wrongs: list[Any] = [str(number), True, False]
    if isinstance(number, float):
        wrongs += [float("inf"), float("-inf"), float("nan")]
    return wrongs


SCENARIO_LEAVES = list(numeric_leaves(full_scenario()))
EXPERIMENT_LEAVES = list(numeric_leaves(full_experiment()))


def test_the_full_documents_are_valid() -> None:
    assert scenario_error(full_scenario()) is None
    ExperimentConfig.from_dict(full_experiment(), source="e.yaml")
    assert len(SCENARIO_LEAVES) > 40 and len(EXPERIMENT_LEAVES) > 15


@pytest.mark.parametrize("dotted,keys,number", SCENARIO_LEAVES, ids=[leaf[0] for leaf in SCENARIO_LEAVES])
def test_every_scenario_number_must_be_a_finite_number(dotted: str, keys: tuple[str | int, ...], number: Any) -> None:
    for wrong in _wrong(number):
        error = scenario_error(replaced(full_scenario(), keys, wrong))
        assert error is not None, (dotted, wrong)
        parent = dotted.rsplit(".", 1)[0] if dotted.endswith(("amount", "bps_per_event")) else dotted
        assert error.startswith("s.yaml: ") and parent in error, (wrong, error)


@pytest.mark.parametrize("dotted,keys,number", EXPERIMENT_LEAVES, ids=[leaf[0] for leaf in EXPERIMENT_LEAVES])
def test_every_experiment_number_must_be_a_finite_number(dotted: str, keys: tuple[str | int, ...], number: Any) -> None:
    for wrong in _wrong(number):
        with pytest.raises(ConfigError) as caught:
            ExperimentConfig.from_dict(replaced(full_experiment(), keys, wrong), source="e.yaml")
        assert dotted.split("[")[0].rsplit(".", 1)[-1] in str(caught.value), (wrong, str(caught.value))


@pytest.mark.parametrize(
    "key,wrong",
    [
        ("replicates", "3"),
        ("replicates", True),
        ("limits.max_runs_in_flight", "2"),
        ("limits.llm_budget_usd", float("inf")),
        ("limits.llm_budget_usd", True),
    ],
)
def test_sweep_numbers_must_be_numbers(key: str, wrong: Any, tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "name": "s",
        "experiments": [str(EXPERIMENTS / "castro" / "exp1.yaml")],
        "output": str(tmp_path),
    }
    head, _, tail = key.partition(".")
    if tail:
        doc[head] = {tail: wrong}
    else:
        doc[head] = wrong
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(doc, allow_nan=True).replace("Infinity", ".inf"))
    with pytest.raises(ConfigError, match=key.rsplit(".", 1)[-1]):
        load_sweep(path)


# --------------------------------------------------------------------------- bounds at their edges


def small(**changes: Any) -> dict[str, Any]:
    """Two agents, two ticks, one scheduled payment: room to push one value to its bound."""
    doc: dict[str, Any] = {
        "simulation": {"ticks_per_day": 2, "num_days": 1},
        "lsm_config": {"enable_cycles": False},
        "cost_rates": {
            "overdraft_bps_per_tick": 0.0,
            "delay_cost_per_tick_per_cent": 0.0,
            "collateral_cost_per_tick_bps": 0.0,
            "deadline_penalty": 0,
            "split_friction_cost": 0,
            "overdue_delay_multiplier": 1.0,
        },
        "agents": [{"id": "A", "opening_balance": 0}, {"id": "B", "opening_balance": 0}],
        "scenario_events": [
            {
                "type": "CustomTransactionArrival",
                "from_agent": "A",
                "to_agent": "B",
                "amount": 100,
                "schedule": {"type": "OneTime", "tick": 0},
            }
        ],
    }
    for dotted, value in changes.items():
        keys: list[str | int] = [int(k) if k.isdigit() else k for k in dotted.split(".")]
        doc = replaced(doc, tuple(keys), value) if _exists(doc, keys[:-1]) else _set(doc, keys, value)
    return doc


def _exists(doc: Any, keys: list[str | int]) -> bool:
    for k in keys:
        if (isinstance(doc, dict) and k in doc) or (isinstance(doc, list) and isinstance(k, int) and k < len(doc)):
            doc = doc[k]
        else:
            return False
    return True


def _set(doc: dict[str, Any], keys: list[str | int], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for k in keys[:-1]:
        node = node.setdefault(k, {}) if isinstance(node, dict) else node[k]
    node[keys[-1]] = value
    return out


M = B.MAX_CENTS
EDGES = [  # (field, value at the bound, value just past it, words of the refusal)
    ("agents.0.opening_balance", M, M + 1, "agents[0].opening_balance: must be within ±"),
    ("agents.0.opening_balance", -M, -M - 1, "agents[0].opening_balance: must be within ±"),
    ("agents.0.unsecured_cap", M, M + 1, "agents[0].unsecured_cap: must be within ±"),
    ("agents.0.liquidity_pool", M, M + 1, "agents[0].liquidity_pool: must be within ±"),
    ("scenario_events.0.amount", M, M + 1, "scenario_events[0].amount: must be within ±"),
    ("cost_rates.split_friction_cost", M, M + 1, "cost_rates.split_friction_cost: must be within ±"),
    ("cost_rates.deadline_penalty", M, M + 1, "cost_rates.deadline_penalty: must be within ±"),
    ("simulation.rng_seed", 2**64 - 1, 2**64, "simulation.rng_seed: must be within ±"),
    ("cost_rates.overdraft_bps_per_tick", B.MAX_BPS, B.MAX_BPS * 1.000001, "overdraft_bps_per_tick: must be at most"),
    ("cost_rates.collateral_cost_per_tick_bps", B.MAX_BPS, B.MAX_BPS * 1.000001, "collateral_cost_per_tick_bps"),
    ("cost_rates.liquidity_cost_per_tick_bps", B.MAX_BPS, B.MAX_BPS * 1.000001, "liquidity_cost_per_tick_bps"),
    (
        "cost_rates.delay_cost_per_tick_per_cent",
        B.MAX_DELAY_RATE,
        B.MAX_DELAY_RATE * 1.000001,
        "delay_cost_per_tick_per_cent: must be at most",
    ),
    ("cost_rates.overdue_delay_multiplier", B.MAX_MULTIPLIER, B.MAX_MULTIPLIER * 1.000001, "overdue_delay_multiplier"),
    (
        "simulation.ticks_per_day",
        B.MAX_EPISODE_TICKS,
        B.MAX_EPISODE_TICKS + 1,
        "ticks_per_day × num_days must be at most",
    ),
    ("scenario_events.0.schedule.tick", 1, 2, "scenario_events[0].schedule.tick: must be within the simulated horizon"),
]


@pytest.mark.parametrize("field,at,past,words", EDGES, ids=[f"{e[0]}={e[1]}" for e in EDGES])
def test_each_bound_accepts_its_edge_and_refuses_past_it(field: str, at: Any, past: Any, words: str) -> None:
    assert scenario_error(small(**{field: at})) is None
    error = scenario_error(small(**{field: past}))
    assert error is not None and words in error, error


def test_a_repeating_event_starting_past_the_horizon_is_refused() -> None:
    event = {
        "type": "DirectTransfer",
        "from_agent": "A",
        "to_agent": "B",
        "amount": 5,
        "schedule": {"type": "Repeating", "start_tick": 2, "interval": 1},
    }
    error = scenario_error(small(scenario_events=[event]))
    assert error is not None and "scenario_events[0].schedule.start_tick: must be within" in error
    event["schedule"]["start_tick"] = 1
    assert scenario_error(small(scenario_events=[event])) is None


def arrivals(rate: float, dist: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"rate_per_tick": rate, "amount_distribution": dist or {"type": "Uniform", "min": 1, "max": 10}, **extra}


@pytest.mark.parametrize(
    "rate,ok", [(B.MAX_RATE_PER_TICK, True), (B.MAX_RATE_PER_TICK * 1.0001, False), (1e300, False)]
)
def test_arrival_rate_bound(rate: float, ok: bool) -> None:
    error = scenario_error(small(**{"agents.0.arrival_config": arrivals(rate)}))
    assert (error is None) == ok, error
    if not ok:
        assert error is not None and "agents[0].arrival_config.rate_per_tick" in error


def test_arrival_rate_events_count_towards_the_bound() -> None:
    boost = {
        "type": "AgentArrivalRateChange",
        "agent": "A",
        "multiplier": 2.0,
        "schedule": {"type": "Repeating", "start_tick": 0, "interval": 1},
    }
    doc = small(**{"simulation.ticks_per_day": 100, "agents.0.arrival_config": arrivals(1.0)})
    doc["scenario_events"] = [boost]
    error = scenario_error(doc)
    assert error is not None and "with the arrival-rate events the rate reaches" in error
    boost["multiplier"] = 0.5  # shrinking rates are fine however often
    assert scenario_error(doc) is None


def test_expected_arrivals_bound() -> None:
    ticks = int(B.MAX_EXPECTED_ARRIVALS / 1000)
    at = small(**{"simulation.ticks_per_day": ticks, "agents.0.arrival_config": arrivals(1000.0)})
    assert scenario_error(at) is None
    past = small(**{"simulation.ticks_per_day": ticks + 1, "agents.0.arrival_config": arrivals(1000.0)})
    error = scenario_error(past)
    assert error is not None and "expected payments per sample" in error


DRAWS = [  # (distribution at its largest draw, the same just past it)
    ({"type": "Uniform", "min": 1, "max": M}, {"type": "Uniform", "min": 1, "max": M + 1}),
    (
        {"type": "Normal", "mean": 1e14, "std_dev": (M - 1e14) / B.NORMAL_DRAW_MAX * 0.999999},
        {"type": "Normal", "mean": 1e14, "std_dev": (M - 1e14) / B.NORMAL_DRAW_MAX * 1.000001},
    ),
    (
        {"type": "Exponential", "lambda": B.EXPONENTIAL_DRAW_MAX / M * 1.000001},
        {"type": "Exponential", "lambda": B.EXPONENTIAL_DRAW_MAX / M * 0.999999},
    ),
    ({"type": "LogNormal", "mean": 1000.0, "std_dev": 1000.0}, {"type": "LogNormal", "mean": 1.0, "std_dev": 1e9}),
]


@pytest.mark.parametrize("inside,outside", DRAWS, ids=[d[0]["type"] for d in DRAWS])
def test_amount_draw_bound(inside: dict[str, Any], outside: dict[str, Any]) -> None:
    error = scenario_error(small(**{"agents.0.arrival_config": arrivals(0.001, inside)}))
    assert error is None or "draws can reach" not in error, error
    error = scenario_error(small(**{"agents.0.arrival_config": arrivals(0.001, outside)}))
    assert error is not None and "agents[0].arrival_config.amount_distribution" in error


def test_zero_counterparty_weights_are_refused_at_load() -> None:
    error = scenario_error(small(**{"agents.0.arrival_config": arrivals(1.0, counterparty_weights={"B": 0.0})}))
    assert error is not None and "counterparty_weights: the weights of the other agents sum to zero" in error


def test_worst_case_cost_beyond_int64_is_refused_naming_the_largest_term() -> None:
    doc = small(
        **{
            "scenario_events.0.amount": M // 10,
            "cost_rates.delay_cost_per_tick_per_cent": 100.0,
            "simulation.ticks_per_day": 1000,
        }
    )
    error = scenario_error(doc)
    assert error is not None and "cost_rates.delay_cost_per_tick_per_cent" in error and "int64" in error


def test_every_shipped_scenario_is_within_bounds() -> None:
    from runner.input_files import read_yaml_mapping
    from runner.scenario.config import ScenarioConfig

    files = [*EXPERIMENTS.rglob("*.yaml"), *(Path(__file__).parents[2] / "../shared/compat").rglob("*.yaml")]
    checked = 0
    for file in files:
        raw = read_yaml_mapping(file)
        if "simulation" in raw and "agents" in raw:
            B.check_bounds(ScenarioConfig.model_validate(raw), file)
            checked += 1
    assert checked >= 4


# --------------------------------------------------------------------------- soundness

magnitudes = st.sampled_from([0, 1, 10**6, 10**12, 10**14, B.MAX_CENTS])
rates = st.sampled_from([0.0, 0.5, 100.0, B.MAX_BPS])


@st.composite
def extreme_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    ticks = draw(st.integers(1, 4))
    agents = [
        {
            "id": name,
            "opening_balance": draw(magnitudes) * draw(st.sampled_from([1, -1])),
            "unsecured_cap": draw(magnitudes),
            "liquidity_pool": draw(magnitudes),
        }
        for name in ("A", "B")
    ]
    events = [
        {
            "type": draw(st.sampled_from(["CustomTransactionArrival", "DirectTransfer", "ScheduledSettlement"])),
            "from_agent": frm,
            "to_agent": to,
            "amount": max(1, draw(magnitudes)),
            "schedule": {"type": "OneTime", "tick": draw(st.integers(0, ticks - 1))},
        }
        for frm, to in draw(st.lists(st.sampled_from([("A", "B"), ("B", "A")]), min_size=1, max_size=4))
    ]
    return {
        "simulation": {"ticks_per_day": ticks, "num_days": draw(st.integers(1, 2))},
        "cost_rates": {
            "overdraft_bps_per_tick": draw(rates),
            "liquidity_cost_per_tick_bps": draw(rates),
            "collateral_cost_per_tick_bps": draw(rates),
            "delay_cost_per_tick_per_cent": draw(st.sampled_from([0.0, 0.2, 50.0, B.MAX_DELAY_RATE])),
            "overdue_delay_multiplier": draw(st.sampled_from([1.0, 5.0, B.MAX_MULTIPLIER])),
            "deadline_penalty": draw(magnitudes),
            "eod_penalty": draw(magnitudes),
        },
        "agents": agents,
        "scenario_events": events,
        "lsm_config": {"enable_cycles": False},
    }


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=extreme_scenarios())
def test_accepted_extremes_give_equal_non_negative_costs_in_both_engines(doc: dict[str, Any]) -> None:
    try:
        scenario = scenario_from_dict(doc)
    except ConfigError:
        return  # refused: nothing runs
    setup = build_setup(scenario, scenario.policies)
    schedule = generate_schedule(scenario.config, 1, setup.horizon)
    reference, _ = ReferenceEngine(setup).run(schedule)
    batch = evaluate_batch(setup, [schedule])
    assert np.array_equal(reference.costs, batch.costs)
    assert (batch.costs >= 0).all()
    assert np.array_equal(reference.final_balance, batch.final_balance)


def _band(rate: float, dist: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "rate_per_tick": rate,
        "amount_distribution": dist or {"type": "Uniform", "min": 1, "max": 10},
        "deadline_offset_min": 1,
        "deadline_offset_max": 2,
    }


@pytest.mark.parametrize("band", ["urgent", "normal", "low"])
def test_arrival_bands_are_bounded_like_arrival_config(band: str) -> None:
    """Each band is an arrival stream of its own: rate, draws and the per-sample count."""
    ok = small(**{"agents.0.arrival_bands": {band: _band(B.MAX_RATE_PER_TICK)}})
    assert scenario_error(ok) is None
    error = scenario_error(small(**{"agents.0.arrival_bands": {band: _band(B.MAX_RATE_PER_TICK * 1.0001)}}))
    assert error is not None and f"agents[0].arrival_bands.{band}.rate_per_tick" in error
    huge = {"type": "Uniform", "min": 1, "max": M + 1}
    error = scenario_error(small(**{"agents.0.arrival_bands": {band: _band(0.001, huge)}}))
    assert error is not None and f"agents[0].arrival_bands.{band}.amount_distribution" in error


def test_bands_add_up_towards_the_expected_arrivals_bound() -> None:
    ticks = int(B.MAX_EXPECTED_ARRIVALS / 1000)
    two = {"urgent": _band(500.0), "normal": _band(500.0)}
    assert scenario_error(small(**{"simulation.ticks_per_day": ticks, "agents.0.arrival_bands": two})) is None
    error = scenario_error(small(**{"simulation.ticks_per_day": ticks + 1, "agents.0.arrival_bands": two}))
    assert error is not None and "expected payments per sample" in error
