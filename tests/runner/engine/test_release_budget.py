"""Release budgets, worked out by hand (docs/engine.md, "Release budgets"): a budget lasts
until the bank tree answers NoAction or sets another one, and a Release's priority_flag
applies even to a payment the budget holds back (both as in SimCash)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runner.engine.handworked import agent_costs, pay, run, scenario, settle_ticks


def with_policy(tmp_path: Path, raw: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"version": "1.0", "policy_id": "budget", **doc}))
    raw["agents"][0]["policy"] = {"type": "FromJson", "json_path": str(path)}
    return raw


def budget_then(later: dict[str, Any]) -> dict[str, Any]:
    """Bank tree: a budget of 100 at tick 0, ``later`` afterwards."""
    return {
        "type": "condition",
        "node_id": "first",
        "condition": {"op": "==", "left": {"field": "current_tick"}, "right": {"value": 0}},
        "on_true": {
            "type": "action",
            "node_id": "budget",
            "action": "SetReleaseBudget",
            "parameters": {"max_value_to_release": {"value": 100}},
        },
        "on_false": later,
    }


ADD_STATE = {
    "type": "action",
    "node_id": "count",
    "action": "AddState",
    "parameters": {"key": {"value": "bank_state_ticks"}, "value": {"value": 1}},
}
NO_ACTION = {"type": "action", "node_id": "free", "action": "NoAction"}
RELEASE = {"type": "action", "node_id": "release", "action": "Release"}


@pytest.mark.parametrize(("later", "expected"), [(ADD_STATE, [0, -1, -1]), (NO_ACTION, [0, 1, 1])])
def test_budget_lasts_until_no_action(tmp_path: Path, later: dict[str, Any], expected: list[int]) -> None:
    """Three payments of 60, money for all. Tick 0: the budget of 100 lets the first go (40
    left). While the bank tree answers AddState the budget stays with its 40: the others
    wait all day; once it answers NoAction there is no budget and they go at tick 1."""
    raw = scenario({"A": 1_000, "B": 0}, [pay("A", "B", 60)] * 3, lsm_config={"enable_cycles": False})
    raw = with_policy(tmp_path, raw, {"payment_tree": RELEASE, "bank_tree": budget_then(later)})
    assert settle_ticks(raw) == expected


@pytest.mark.parametrize(("flag", "delay"), [(None, 3), ("LOW", 0)])
def test_priority_flag_applies_to_a_held_payment(tmp_path: Path, flag: str | None, delay: int) -> None:
    """A budget of 0 holds A's 1 000 (priority 5) all day: delay 1 cent a tick in the normal
    band, 3 in all. Released with priority_flag LOW, it becomes priority 1 at once and the
    low band costs nothing (multiplier 0)."""
    release = {**RELEASE, "parameters": {"priority_flag": {"value": flag}}} if flag else RELEASE
    zero = {
        "type": "action",
        "node_id": "zero",
        "action": "SetReleaseBudget",
        "parameters": {"max_value_to_release": {"value": 0}},
    }
    costs = {"delay_cost_per_tick_per_cent": 0.001, "priority_delay_multipliers": {"low_multiplier": 0.0}}
    raw = scenario({"A": 1_000, "B": 0}, [pay("A", "B", 1_000)], costs=costs, lsm_config={"enable_cycles": False})
    raw = with_policy(tmp_path, raw, {"payment_tree": release, "bank_tree": zero})
    table, _ = run(raw)
    assert [int(x) for x in table.settle_tick] == [-1]
    assert agent_costs(table)["A"] == delay
