"""One agent's user prompt: what changes every call.

The current policy and its costs, the agent's three simulated days, and its history of
proposals; the answer contract is in the system prompt (`runner.llm.system_prompt`) only.

Isolation: `build_user_prompt` reads nothing but its `ProposalContext` (which the loop builds
for one agent) and re-filters every event stream through `filter_events_for_agent`, so another
agent's costs, balances, queue or policy cannot reach the prompt even if a caller slipped
unfiltered events into the context. Money: the engine counts cents; prompts show dollars.
"""

from __future__ import annotations

import json
from typing import Any

from runner.llm.events import filter_events_for_agent, format_events
from runner.llm.policy_reference import format_number
from runner.money import format_cents
from runner.proposals import IterationRecord, PolicyChanges, PolicyDoc, ProposalContext

COMPONENT_LABELS = {
    "liquidity_opportunity": "liquidity opportunity",
    "overdraft": "overdraft",
    "delay": "delay",
    "deadline_penalty": "deadline penalty",
    "eod_penalty": "end-of-day penalty",
    "collateral": "collateral",
    "split_friction": "split friction",
}


def _parameters_text(policy: PolicyDoc) -> str:
    params = policy.get("parameters") or {}
    if not isinstance(params, dict) or not params:
        return "none"
    return ", ".join(
        f"{k} = {format_number(float(v))}" if isinstance(v, int | float) else f"{k} = {v!r}" for k, v in params.items()
    )


def _cost_section(ctx: ProposalContext) -> list[str]:
    plural = "sample" if ctx.num_samples == 1 else "samples"
    lines = [
        f"## Cost of the current policy ({ctx.num_samples} {plural})",
        "",
        f"Mean total cost {format_cents(ctx.mean_cost)} (standard deviation "
        f"{format_cents(ctx.cost_std)}); settlement rate {ctx.settlement_rate:.1%} of your "
        "payments.",
        "",
        "| component | mean | share |",
        "|---|---|---|",
    ]
    total = sum(ctx.cost_breakdown.values())
    order = {name: i for i, name in enumerate(COMPONENT_LABELS)}
    items = sorted(ctx.cost_breakdown.items(), key=lambda kv: (-kv[1], order.get(kv[0], 99), kv[0]))
    for name, cents in items:
        share = f"{cents / total:.1%}" if total > 0 else "-"
        lines.append(f"| {COMPONENT_LABELS.get(name, name)} | {format_cents(cents)} | {share} |")
    return lines


def _streams_section(ctx: ProposalContext, max_event_lines: int) -> list[str]:
    lines = [
        "## Your simulated days",
        "",
        "Only your own events: your payments and decisions, payments you received, your costs and penalties.",
    ]
    for stream in ctx.streams:
        seed = "n/a" if stream.seed is None else str(stream.seed)
        lines += [
            "",
            f"### {stream.label[:1].upper()}{stream.label[1:]} (seed {seed}, your cost {format_cents(stream.cost)})",
        ]
        events = format_events(filter_events_for_agent(stream.events, ctx.agent_id), ctx.agent_id, max_event_lines)
        lines += events or ["(no events)"]
    return lines


def _param_changes(changes: PolicyChanges) -> str:
    def shown(value: Any) -> str:
        return "unset" if value is None else format_number(float(value))

    parts = [f"{c.name} {shown(c.before)} -> {shown(c.after)}" for c in changes.parameters]
    return ", ".join(parts) or "parameters unchanged"


def _compact(value: Any, limit: int = 400) -> str:
    # Keys sorted: a proposal's history reads the same whether it holds the LLM's own dict or,
    # in a run resumed after a crash, the one read back from the store (keys in sorted order).
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "…(cut)"


def _record_cost(r: IterationRecord) -> float | None:
    return r.new_mean_cost if r.proposal is not None else None


def _history_line(r: IterationRecord) -> str:
    if r.proposal is None:
        return f"- iteration {r.iteration}: no valid policy was proposed ({r.reason})"
    verdict = "ACCEPTED" if r.accepted else "REJECTED"
    changes = PolicyChanges.between(r.policy, r.proposal)
    tree_text = "; ".join(f"{tree} proposed as {_compact(r.proposal.get(tree))}" for tree in changes.trees)
    change = f"{_param_changes(changes)}; {tree_text or 'trees unchanged'}"
    text = f"- iteration {r.iteration}, {verdict} ({r.reason}): {change}"
    if r.old_mean_cost is not None and r.new_mean_cost is not None:
        text += f". Mean cost {format_cents(r.old_mean_cost)} -> {format_cents(r.new_mean_cost)}"
    if r.mean_delta is not None:
        text += f", paired delta {format_cents(r.mean_delta)}"
    if r.ci_low is not None and r.ci_high is not None:
        text += f" (CI {format_cents(r.ci_low)} to {format_cents(r.ci_high)})"
    return text


def _history_section(ctx: ProposalContext) -> list[str]:
    lines = ["## Your past proposals (cheapest first)", ""]
    if not ctx.history:
        return [*lines, "None yet: this is your first proposal."]
    lines.append(
        "Paired delta = cost of the policy in force minus cost of the proposal on the "
        "same samples (positive: the proposal was cheaper). Costs of different "
        "iterations come from different samples."
    )
    records = sorted(ctx.history, key=lambda r: (_record_cost(r) is None, _record_cost(r) or 0.0, r.iteration))
    return lines + [_history_line(r) for r in records]


def build_user_prompt(ctx: ProposalContext, *, max_event_lines: int = 60) -> str:
    """The user prompt for one agent and iteration, built from ``ctx`` alone.

    Args:
        ctx: everything this agent may see (built by the loop for this agent only).
        max_event_lines: cap on the lines shown per simulated day (a note says what was cut).

    Returns:
        Sections: current policy (its JSON once, then its parameters), cost breakdown in
        dollars with shares, the three simulated days, the proposal history with accepted
        and rejected proposals and why, the experiment's instructions for this agent, task.
    """
    policy_json = json.dumps(ctx.current_policy, indent=2)
    sections = [
        [f"# {ctx.agent_id}, iteration {ctx.iteration}"],
        [
            "## Current policy",
            "",
            "```json",
            policy_json,
            "```",
            "",
            f"Parameters in force: {_parameters_text(ctx.current_policy)}.",
        ],
        _cost_section(ctx),
        _streams_section(ctx, max_event_lines),
        _history_section(ctx),
    ]
    if ctx.customization and ctx.customization.strip():
        sections.append(["## Instructions for this experiment", "", ctx.customization.strip()])
    sections.append(
        [
            "## Task",
            "",
            f"Propose a policy for {ctx.agent_id} that lowers its mean total cost. "
            "Answer with the complete policy in the format described in the system "
            "message.",
        ]
    )
    return "\n\n".join("\n".join(s) for s in sections) + "\n"
