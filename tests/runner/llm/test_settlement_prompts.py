"""The LLM is told the settlement rules a scenario uses (issue #10 item 7), and only its own.

For each rule — LSM cycles, outflow limits (both spellings), internal-queue ordering, priority
escalation, central-queue priority ordering, collateral (and the collateral trees) — the
system prompt of a scenario with the rule describes it, and the prompt of the same scenario
without it does not. Limits and collateral are per bank: another bank's never reach a prompt.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runner.experiment.streams import scenario_facts
from runner.llm.settlement_rules import settlement_lines
from runner.llm.system_prompt import build_system_prompt
from runner.policy.constraints import ScenarioConstraints
from runner.proposals import SettlementFacts
from runner.scenario import scenario_from_dict
from tests.fakes.contexts import exp2_constraints, exp2_llm_config

BASE: dict[str, Any] = {
    "simulation": {"ticks_per_day": 4, "num_days": 1, "rng_seed": 1},
    "lsm_config": {"enable_bilateral": False, "enable_cycles": False},
    "agents": [
        {"id": "B0", "opening_balance": 1_000, "unsecured_cap": 300},
        {"id": "B1", "opening_balance": 1_000},
        {"id": "B2", "opening_balance": 1_000},
    ],
}

# rule -> (change to BASE, a phrase only that rule's text contains)
RULES: dict[str, tuple[dict[str, Any], str]] = {
    "cycles": (
        {"lsm_config": {"enable_bilateral": False, "enable_cycles": True, "max_cycle_length": 5}},
        "ring of 3 to 5 banks",
    ),
    "limits": ({"agents.0": {"bilateral_limits": {"B1": 4_321}, "multilateral_limit": 9_876}}, "Your outflow limits"),
    "limits_block": ({"agents.0": {"limits": {"bilateral_limits": {"B2": 4_321}}}}, "to B2 at most $43.21"),
    "queue1_ordering": ({"queue1_ordering": "priority_deadline"}, "internal queue is sorted"),
    "priority_escalation": (
        {"priority_escalation": {"enabled": True, "start_escalating_at_ticks": 3, "max_boost": 2}},
        "round(2 x (1 - r/3))",
    ),
    "priority_mode": ({"priority_mode": True}, "declared RTGS priority"),
    "collateral": (
        {"agents.0": {"posted_collateral": 2_500, "max_collateral_capacity": 7_000, "collateral_haircut": 0.1}},
        "you start with $25.00 posted",
    ),
}
MARKERS = [phrase for _change, phrase in RULES.values()]


def scenario_with(*rules: str) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    for rule in rules:
        change, _ = RULES[rule]
        for key, value in change.items():
            if key.startswith("agents."):
                raw["agents"][int(key.split(".")[1])].update(value)
            else:
                raw[key] = value
    return raw


def system_prompt(raw: dict[str, Any], agent: str, constraints: ScenarioConstraints | None = None) -> str:
    facts = scenario_facts(scenario_from_dict(raw), agent)
    return build_system_prompt(exp2_llm_config(), constraints or exp2_constraints(), facts, None)


def test_no_rule_no_text() -> None:
    text = system_prompt(scenario_with(), "B0")
    assert not [m for m in MARKERS if m in text]
    assert "Collateral:" not in text and "No offsetting" in text


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_is_described_when_used(rule: str) -> None:
    text = system_prompt(scenario_with(rule), "B0")
    phrase = RULES[rule][1]
    assert phrase in text
    others = [m for r, (_c, m) in RULES.items() if r != rule and m != phrase]
    assert not [m for m in others if m in text and not (rule == "limits_block" and m == "Your outflow limits")]


def test_cycles_without_bilateral_do_not_claim_no_offsetting() -> None:
    text = system_prompt(scenario_with("cycles"), "B0")
    assert "No offsetting" not in text and "No bilateral offsetting" in text


def test_limits_and_collateral_of_another_bank_stay_out() -> None:
    raw = scenario_with("limits", "collateral")
    mine, theirs = system_prompt(raw, "B0"), system_prompt(raw, "B1")
    for secret in ("$43.21", "$98.76", "$25.00", "$70.00"):
        assert secret in mine
        assert secret not in theirs
    assert "Your outflow limits" not in theirs and "Collateral:" not in theirs


def test_collateral_trees_are_explained_when_allowed() -> None:
    allowed = ScenarioConstraints(
        allowed_actions={
            "payment_tree": ["Release", "Hold"],
            "strategic_collateral_tree": ["PostCollateral", "WithdrawCollateral", "HoldCollateral"],
        }
    )
    text = system_prompt(scenario_with(), "B0", allowed)
    # no collateral posted, but the trees may post: the capacity is 10 x the unsecured cap
    assert "you start with $0.00 posted and may post up to $30.00" in text
    assert "auto_withdraw_after_ticks = k" in text
    assert "PostCollateral — post collateral (amount in cents, cut to the capacity left" in text
    assert "auto_withdraw_after_ticks = k" not in system_prompt(scenario_with("collateral"), "B0")


def test_settlement_lines_are_empty_by_default() -> None:
    assert settlement_lines(SettlementFacts(), collateral_trees_allowed=False) == []


def test_queue2_actions_explain_the_central_queue_pass() -> None:
    with_q2 = ScenarioConstraints(
        allowed_actions={"payment_tree": ["Release", "Hold", "ResubmitToRtgs", "WithdrawFromRtgs"]}
    )
    text = system_prompt(scenario_with("priority_mode"), "B0", with_q2)
    assert "also judges each of your payments waiting in the central queue" in text
    assert "ResubmitToRtgs — move a payment that waits in the central queue" in text
    assert "WithdrawFromRtgs — take a payment that waits in the central queue" in text
    plain = system_prompt(scenario_with("priority_mode"), "B0")
    assert "also judges each of your payments" not in plain and "ResubmitToRtgs" not in plain
