"""Prompt assembly: exp2 snapshots, agent isolation, money formatting, event compaction.

Snapshots live in ``snapshots/``; rewrite them with ``UPDATE_SNAPSHOTS=1 pytest …`` after a
deliberate change, and read the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from runner.llm.events import filter_events_for_agent, format_events
from runner.llm.system_prompt import build_system_prompt
from runner.llm.user_prompt import build_user_prompt
from runner.money import format_cents
from tests.fakes.contexts import (
    BANK_B_FRACTION,
    BANK_B_NODE,
    SYSTEM_PROMPT,
    exp2_constraints,
    exp2_context,
    exp2_llm_config,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
    assert path.exists(), f"missing snapshot {path}; run with UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_SNAPSHOTS=1 if intended"


def test_exp2_system_prompt_snapshot() -> None:
    ctx = exp2_context()
    text = build_system_prompt(exp2_llm_config(), exp2_constraints(), ctx.scenario, None)
    check_snapshot("exp2_system.txt", text)
    assert text.startswith(SYSTEM_PROMPT + "\n\n")
    # only what the constraints allow is described
    assert "Hold —" in text and "Drop" not in text and "SetReleaseBudget" not in text
    assert "queue1_total_value" not in text and "strategic_collateral_tree" not in text


def test_exp2_user_prompt_snapshot() -> None:
    text = build_user_prompt(exp2_context())
    check_snapshot("exp2_user.txt", text)
    assert text.count('"initial_liquidity_fraction"') == 1  # the policy JSON appears once
    assert text.count("```json") == 1
    for label in ("### Context day (seed 42", "### Best sample (seed", "### Worst sample (seed"):
        assert label in text
    assert "REJECTED (CI lower bound -$1,180.20 <= 0)" in text
    assert "no valid policy was proposed (invalid: parameters.initial_liquidity_fraction" in text
    assert "Committing liquidity is costly" in text


def test_prompt_keeps_one_answer_contract() -> None:
    ctx = exp2_context()
    system = build_system_prompt(exp2_llm_config(), exp2_constraints(), ctx.scenario, None)
    user = build_user_prompt(ctx)
    assert system.count("## Your answer") == 1 and "## Your answer" not in user
    assert "JSON object" not in user.split("## Task")[0]  # no output rules outside the contract


@pytest.mark.parametrize("agent, other", [("BANK_A", "BANK_B"), ("BANK_B", "BANK_A")])
def test_agent_prompt_has_no_other_agents_data(agent: str, other: str) -> None:
    raw = exp2_context(agent, filtered=False)
    # the unfiltered trace does hold the other bank's private events…
    leaked = [
        e
        for s in raw.streams
        for e in s.events
        if e.get("agent") == other and e["type"] in ("CostAccrual", "PolicyDecision")
    ]
    assert leaked
    other_costs = {e["liquidity_opportunity"] for e in leaked if e["type"] == "CostAccrual"}
    text = build_user_prompt(raw)
    # …but none of it reaches the prompt: no policy, no decisions, no costs of the other bank
    assert BANK_B_NODE not in text and "bank_b_private" not in text
    assert f"{BANK_B_FRACTION:g}" not in text
    for cents in other_costs:
        assert f"liquidity opportunity {format_cents(cents)}" not in text
    assert "gross" not in text and "unsettled=" not in text
    # no event of the other bank's own day: its arrivals, decisions or queueing
    assert f"to {agent}," not in text
    own = set(re.findall(r"new payment (tx\d+) to ", text))
    assert own and set(re.findall(r"(tx\d+) queued centrally", text)) <= own
    assert set(re.findall(r"(tx\d+): (?:Release|Hold) \(node", text)) <= own
    assert text == build_user_prompt(exp2_context(agent, filtered=True))


def test_filter_keeps_only_own_events_and_fields() -> None:
    events = [
        {
            "tick": 0,
            "type": "Arrival",
            "tx": 1,
            "sender": "A",
            "receiver": "B",
            "amount": 100,
            "deadline": 3,
            "priority": 5,
        },
        {
            "tick": 0,
            "type": "Arrival",
            "tx": 2,
            "sender": "B",
            "receiver": "A",
            "amount": 200,
            "deadline": 3,
            "priority": 5,
        },
        {"tick": 0, "type": "QueuedRtgs", "tx": 2, "sender": "B", "amount": 200},
        {"tick": 1, "type": "Settlement", "tx": 2, "sender": "B", "receiver": "A", "amount": 200, "path": "queue2"},
        {"tick": 1, "type": "LsmOffset", "agents": ["A", "B"], "gross": 900, "net": 100},
        {"tick": 1, "type": "CostAccrual", "agent": "B", "delay": 7, "balance": -5},
        {"tick": 1, "type": "CostAccrual", "agent": "A", "delay": 3, "balance": 42},
        {"tick": 1, "type": "SomethingNew", "agent": "A"},
        {"tick": 2, "type": "EndOfDay", "day": 0, "unsettled": 4},
    ]
    kept = filter_events_for_agent(events, "A")
    assert kept == (
        {
            "tick": 0,
            "type": "Arrival",
            "tx": 1,
            "sender": "A",
            "receiver": "B",
            "amount": 100,
            "deadline": 3,
            "priority": 5,
        },
        {"tick": 1, "type": "Settlement", "tx": 2, "sender": "B", "receiver": "A", "amount": 200},
        {"tick": 1, "type": "LsmOffset", "agents": ["A", "B"]},
        {"tick": 1, "type": "CostAccrual", "agent": "A", "delay": 3},
        {"tick": 2, "type": "EndOfDay", "day": 0},
    )
    assert filter_events_for_agent(kept, "A") == kept  # idempotent


def test_money_is_dollars_from_cents() -> None:
    assert format_cents(49_800) == "$498.00"
    assert format_cents(5) == "$0.05"
    assert format_cents(-123_456.4) == "-$1,234.56"
    ctx = exp2_context()
    text = build_user_prompt(ctx)
    assert f"Mean total cost {format_cents(ctx.mean_cost)}" in text
    total = sum(ctx.cost_breakdown.values())
    for name, cents in ctx.cost_breakdown.items():
        label = name.replace("_", " ").replace("eod", "end-of-day")
        assert f"| {label} | {format_cents(cents)} | {cents / total:.1%} |" in text


def test_event_lines_are_capped_with_a_note() -> None:
    events = [
        {"tick": t, "type": "PolicyDecision", "agent": "A", "tx": t, "action": "Hold", "node": "wait"}
        for t in range(50)
    ]
    events.append({"tick": 50, "type": "EodPenalty", "tx": 3, "sender": "A", "penalty": 100_000})
    lines = format_events(events, "A", max_lines=10)
    assert len(lines) == 11
    assert "t50  tx3 unsettled at end of day: penalty $1,000.00" in lines  # penalties kept first
    assert lines[-1] == "(… 41 more lines not shown: 41 payment decisions)"
    costs = [{"tick": t, "type": "CostAccrual", "agent": "A", "liquidity_opportunity": 415} for t in range(12)]
    assert format_events(costs, "A") == ["t0-t11  every tick, costs: liquidity opportunity $4.15"]


def test_history_sorted_by_cost_with_rejections() -> None:
    text = build_user_prompt(exp2_context())
    history = text.split("## Your past proposals")[1].split("## Instructions")[0]
    order = [int(m) for m in re.findall(r"^- iteration (\d+)", history, flags=re.MULTILINE)]
    assert order == [2, 1, 3, 4]  # by proposal cost; the invalid one (no cost) last
    assert '"condition":{"left":{"field":"ticks_to_deadline"},"op":"<="' in history  # shown compactly


@pytest.mark.parametrize("allowed", [["Release", "Hold"], ["Release", "Split", "StaggerSplit"]])
def test_split_actions_described_only_when_allowed(allowed: list[str]) -> None:
    """With splitting allowed, the policy reference says what a split does (parts, friction,
    per-part penalties, is_split, StaggerSplit's arguments); without, nothing about it."""
    ctx = exp2_context()
    constraints = exp2_constraints().model_copy(
        update={"allowed_actions": {"payment_tree": allowed, "bank_tree": ["NoAction"]}}
    )
    text = build_system_prompt(exp2_llm_config(), constraints, ctx.scenario, None)
    phrases = ("split friction x (parts - 1)", "is_split = 1", "stagger_first_now", "num_splits")
    if "Split" in allowed:
        assert all(p in text for p in phrases), [p for p in phrases if p not in text]
    else:
        assert not any(p in text for p in phrases)


def test_history_reads_the_same_whatever_the_key_order_of_a_proposal() -> None:
    """A run resumed from the store gets its proposals back with sorted keys: same prompt."""

    def reorder(value: Any) -> Any:  # every dict's keys reversed, all the way down
        if isinstance(value, dict):
            return {k: reorder(value[k]) for k in reversed(list(value))}
        return [reorder(v) for v in value] if isinstance(value, list) else value

    ctx = exp2_context()
    history = tuple(
        dataclasses.replace(r, proposal=reorder(r.proposal) if r.proposal is not None else None) for r in ctx.history
    )
    dumped = [json.dumps(r.proposal) for r in ctx.history if r.proposal is not None]
    assert dumped and [json.dumps(r.proposal) for r in history if r.proposal is not None] != dumped
    assert build_user_prompt(dataclasses.replace(ctx, history=history)) == build_user_prompt(ctx)
