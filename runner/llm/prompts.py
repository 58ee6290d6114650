"""The prompts, assembled in one place: the system prompt and one agent's user prompt.

The system prompt is the experiment's own text (verbatim) followed by generated sections —
the policy format restricted to the constraints, the scenario's rules and cost rates, and
the answer contract. The user prompt holds what changes every call: the current policy and
its costs, the agent's three simulated days, and its history of proposals. Each fact appears
once, and the answer contract is stated only in the system prompt, so no two instructions
can contradict each other.

Isolation: `build_user_prompt` reads nothing but its `ProposalContext` (which the loop builds
for one agent) and re-filters every event stream through `filter_events_for_agent`, so another
agent's costs, balances, queue or policy cannot reach the prompt even if a caller slipped
unfiltered events into the context. Money: the engine counts cents; prompts show dollars.
"""

from __future__ import annotations

import json
from typing import Any

from runner.llm.config import LLMConfig
from runner.llm.events import filter_events_for_agent, format_events
from runner.llm.policy_docs import (
    CONDITION_FORMS,
    NODE_FORMS,
    PARAMETER_DOCS,
    VALUE_KINDS,
    action_doc,
    field_doc,
    tree_doc,
)
from runner.llm.settlement_rules import settlement_lines
from runner.money import format_cents
from runner.policy.constraints import ParameterSpec, ScenarioConstraints
from runner.policy.tree import TREES
from runner.proposals import IterationRecord, PolicyChanges, PolicyDoc, ProposalContext, ScenarioFacts
from runner.scenario.models import CostRates, FixedPenalty, Penalty, RatePenalty

__all__ = ["build_system_prompt", "build_user_prompt", "filter_events_for_agent", "format_cents"]

DEFAULT_SYSTEM_PROMPT = (
    "You manage the intraday liquidity of one bank in a real-time gross settlement (RTGS) "
    "payment system. You improve the bank's payment policy to lower its total cost."
)
COMPONENT_LABELS = {
    "liquidity_opportunity": "liquidity opportunity",
    "overdraft": "overdraft",
    "delay": "delay",
    "deadline_penalty": "deadline penalty",
    "eod_penalty": "end-of-day penalty",
    "collateral": "collateral",
    "split_friction": "split friction",
}


# ---------------------------------------------------------------------- system prompt


def _number(x: float) -> str:
    return f"{x:g}"


def _parameter_line(spec: ParameterSpec) -> str:
    if spec.param_type == "enum":
        bounds = f"one of {', '.join(str(v) for v in spec.allowed_values or [])}"
    elif spec.min_value is not None and spec.max_value is not None:
        bounds = f"{_number(spec.min_value)} to {_number(spec.max_value)}"
    elif spec.min_value is not None:
        bounds = f">= {_number(spec.min_value)}"
    elif spec.max_value is not None:
        bounds = f"<= {_number(spec.max_value)}"
    else:
        bounds = "any number"
    doc = spec.description or PARAMETER_DOCS.get(spec.name, "")
    line = f"- {spec.name} ({spec.param_type}, {bounds})"
    return f"{line}: {doc}" if doc else line


def _format_section(constraints: ScenarioConstraints) -> list[str]:
    lines = [
        "## Policy format",
        "",
        'A policy is one JSON object with "version", "policy_id", "parameters" '
        "(name -> number) and one decision tree per allowed tree name. Inside a policy, "
        "money is in cents ($1.00 = 100).",
        "",
        "### Parameters",
    ]
    if constraints.allowed_parameters:
        lines += [_parameter_line(p) for p in constraints.allowed_parameters]
    else:
        lines.append('- none: "parameters" must be empty')
    lines += ["", '### Context fields (read with {"field": NAME})']
    if constraints.allowed_fields:
        lines += [f"- {field_doc(name)}" for name in constraints.allowed_fields]
    else:
        lines.append("- none: conditions may only use parameters and constants")
    lines += ["", "### Trees and their actions (no other tree may appear)"]
    for tree in TREES:
        actions = constraints.actions_for(tree)
        if actions is None:
            continue
        lines.append(f"- {tree}: {tree_doc(tree, actions)}. Actions:")
        lines += [f"  - {action_doc(action)}" for action in actions]
    lines += ["", "### Nodes, conditions and values", "Nodes:"]
    lines += [f"- {form}" for form in NODE_FORMS]
    lines.append("Conditions (C):")
    lines += [f"- {form}" for form in CONDITION_FORMS]
    lines.append("Values (V):")
    lines += [f"- {form}" for form in VALUE_KINDS]
    lines.append('Text action parameters are written {"value": "text"}.')
    return lines


def _penalty_text(penalty: Penalty, what: str) -> str:
    if isinstance(penalty, RatePenalty):
        return f"{_number(penalty.bps_per_event)} bps of the amount of each payment {what}"
    amount = penalty.amount if isinstance(penalty, FixedPenalty) else int(penalty)
    return f"{format_cents(amount)} per payment {what}"


def _penalty_is_zero(penalty: Penalty) -> bool:
    if isinstance(penalty, RatePenalty):
        return penalty.bps_per_event == 0
    return (penalty.amount if isinstance(penalty, FixedPenalty) else int(penalty)) == 0


def _cost_lines(rates: CostRates, eod_scope: str) -> list[str]:
    per_tick: list[str] = []
    free: list[str] = []
    if rates.liquidity_cost_per_tick_bps:
        per_tick.append(
            f"- liquidity opportunity: {_number(rates.liquidity_cost_per_tick_bps)} "
            "bps per tick of the liquidity brought in from your pool"
        )
    else:
        free.append("liquidity opportunity")
    if rates.delay_cost_per_tick_per_cent:
        rate = rates.delay_cost_per_tick_per_cent
        per_tick.append(
            f"- delay: {_number(rate)} x the unsettled amount of each payment, per tick it waits "
            f"(a $100.00 payment waiting one tick costs {format_cents(10_000 * rate)}); "
            f"x{_number(rates.overdue_delay_multiplier)} once the payment is past its deadline"
        )
        pm = rates.priority_delay_multipliers
        if pm is not None:
            per_tick.append(
                f"  - priority multipliers: urgent (8-10) "
                f"x{_number(pm.urgent_multiplier)}, "
                f"normal (4-7) x{_number(pm.normal_multiplier)}, "
                f"low (0-3) x{_number(pm.low_multiplier)}"
            )
    else:
        free.append("delay")
    for rate, name, base in (
        (rates.overdraft_bps_per_tick, "overdraft", "a negative balance"),
        (rates.collateral_cost_per_tick_bps, "collateral", "posted collateral"),
    ):
        if rate:
            per_tick.append(f"- {name}: {_number(rate)} bps per tick of {base}")
        else:
            free.append(name)
    one_time: list[str] = []
    if _penalty_is_zero(rates.deadline_penalty):
        free.append("deadline penalty")
    else:
        one_time.append(
            "- deadline penalty: "
            + _penalty_text(rates.deadline_penalty, "not settled by its deadline (charged once, the tick after)")
        )
    if rates.split_friction_cost:
        one_time.append(
            f"- split friction: {format_cents(rates.split_friction_cost)} per extra part when a payment is split"
        )
    else:
        free.append("split friction")
    scope = (
        "still unsettled at the end of the day"
        if eod_scope == "unsettled"
        else "still unsettled at the end of the day and already past its deadline"
    )
    end_of_day = [] if _penalty_is_zero(rates.eod) else ["- end-of-day penalty: " + _penalty_text(rates.eod, scope)]
    if not end_of_day:
        free.append("end-of-day penalty")
    lines = [
        "Per tick:",
        *(per_tick or ["- none"]),
        "One-time:",
        *(one_time or ["- none"]),
        "End of day:",
        *(end_of_day or ["- none"]),
    ]
    if free:
        lines.append(f"Not charged in this scenario: {', '.join(free)}.")
    return lines


def _collateral_trees_allowed(constraints: ScenarioConstraints) -> bool:
    return any(
        action in (constraints.actions_for(tree) or ())
        for tree in ("strategic_collateral_tree", "end_of_tick_collateral_tree")
        for action in ("PostCollateral", "WithdrawCollateral")
    )


def _scenario_section(scenario: ScenarioFacts, collateral_trees: bool = False) -> list[str]:
    days = "day" if scenario.num_days == 1 else "days"
    lines = [
        "## Scenario",
        "",
        f"- A day has {scenario.ticks_per_day} ticks (t0 to t{scenario.ticks_per_day - 1}); "
        f"the run lasts {scenario.num_days} {days}. Costs are totals over the run.",
    ]
    if scenario.liquidity_pool is not None:
        lines.append(f"- Your liquidity pool holds {format_cents(scenario.liquidity_pool)}.")
    lines.append(
        "- A released payment settles at once if you can cover it (balance plus any "
        "unused credit); otherwise it waits in the central queue, which is retried in "
        "order every tick."
    )
    if scenario.deferred_crediting:
        lines.append(
            "- Deferred crediting: money you receive becomes usable only from the next "
            "tick, never within the tick it arrives."
        )
    else:
        lines.append("- Money you receive is usable immediately.")
    if scenario.bilateral_offsetting:
        lines.append(
            "- Bilateral offsetting: queued payments between two banks can settle "
            "against each other, only the net amount moving."
        )
    elif scenario.settlement.cycles:
        lines.append("- No bilateral offsetting between two banks.")
    else:
        lines.append("- No offsetting: a queued payment settles only when its sender can cover it in full.")
    lines += settlement_lines(scenario.settlement, collateral_trees)
    lines += ["", "### Costs (shown in dollars)", *_cost_lines(scenario.cost_rates, scenario.eod_penalty_scope)]
    return lines


def _contract_section() -> list[str]:
    return [
        "## Your answer",
        "",
        "Reply with the complete policy as one JSON object and nothing else: no text before or after it. Rules:",
        "- use only the parameters, fields, trees and actions listed above;",
        "- keep every parameter within its bounds;",
        "- give every node a node_id that is unique within the policy;",
        '- declare in "parameters" every parameter the trees reference.',
        "If the policy is invalid you will receive the list of errors; then reply with the "
        "whole corrected policy, again as one JSON object.",
    ]


def build_system_prompt(
    config: LLMConfig, constraints: ScenarioConstraints, scenario: ScenarioFacts, system_prompt_text: str | None = None
) -> str:
    """The system prompt: the experiment's text, then the generated reference sections.

    Args:
        config: the experiment's LLM block; ``config.system_prompt`` is used when
            ``system_prompt_text`` is None.
        constraints: what policies may contain (only these parameters, fields, trees and
            actions are described).
        scenario: the rules and cost rates this agent plays under.
        system_prompt_text: the experiment's system prompt, already read from
            ``system_prompt_file`` if that was used. Used verbatim.

    Returns:
        The full system prompt; a short neutral opening replaces a missing experiment text.
    """
    opening = system_prompt_text if system_prompt_text is not None else config.system_prompt
    if opening is None or not opening.strip():
        opening = DEFAULT_SYSTEM_PROMPT
    parts = [
        opening.rstrip("\n"),
        "\n".join(_format_section(constraints)),
        "\n".join(_scenario_section(scenario, _collateral_trees_allowed(constraints))),
        "\n".join(_contract_section()),
    ]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------- user prompt


def _parameters_text(policy: PolicyDoc) -> str:
    params = policy.get("parameters") or {}
    if not isinstance(params, dict) or not params:
        return "none"
    return ", ".join(
        f"{k} = {_number(float(v))}" if isinstance(v, int | float) else f"{k} = {v!r}" for k, v in params.items()
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
        return "unset" if value is None else _number(float(value))

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
