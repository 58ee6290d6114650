"""The system prompt: the experiment's own text (verbatim), then generated sections.

After the opening come the policy format restricted to the constraints
(`runner.llm.policy_reference`), the scenario's rules (settlement rules:
`runner.llm.settlement_rules`) and cost rates, and the answer contract. The contract is stated
here only — the user prompt (`runner.llm.user_prompt`) refers to it — so no two instructions
can contradict each other. Money: the engine counts cents; prompts show dollars.
"""

from __future__ import annotations

from runner.llm.config import LLMConfig
from runner.llm.policy_reference import format_number, policy_format_section
from runner.llm.settlement_rules import settlement_lines
from runner.money import format_cents
from runner.policy.constraints import ScenarioConstraints
from runner.proposals import ScenarioFacts
from runner.scenario.costs import CostRates, FixedPenalty, Penalty, RatePenalty

DEFAULT_SYSTEM_PROMPT = (
    "You manage the intraday liquidity of one bank in a real-time gross settlement (RTGS) "
    "payment system. You improve the bank's payment policy to lower its total cost."
)


def _penalty_text(penalty: Penalty, what: str) -> str:
    if isinstance(penalty, RatePenalty):
        return f"{format_number(penalty.bps_per_event)} bps of the amount of each payment {what}"
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
            f"- liquidity opportunity: {format_number(rates.liquidity_cost_per_tick_bps)} "
            "bps per tick of the liquidity brought in from your pool"
        )
    else:
        free.append("liquidity opportunity")
    if rates.delay_cost_per_tick_per_cent:
        rate = rates.delay_cost_per_tick_per_cent
        per_tick.append(
            f"- delay: {format_number(rate)} x the unsettled amount of each payment, per tick it waits "
            f"(a $100.00 payment waiting one tick costs {format_cents(10_000 * rate)}); "
            f"x{format_number(rates.overdue_delay_multiplier)} once the payment is past its deadline"
        )
        pm = rates.priority_delay_multipliers
        if pm is not None:
            per_tick.append(
                f"  - priority multipliers: urgent (8-10) "
                f"x{format_number(pm.urgent_multiplier)}, "
                f"normal (4-7) x{format_number(pm.normal_multiplier)}, "
                f"low (0-3) x{format_number(pm.low_multiplier)}"
            )
    else:
        free.append("delay")
    for rate, name, base in (
        (rates.overdraft_bps_per_tick, "overdraft", "a negative balance"),
        (rates.collateral_cost_per_tick_bps, "collateral", "posted collateral"),
    ):
        if rate:
            per_tick.append(f"- {name}: {format_number(rate)} bps per tick of {base}")
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
        "\n".join(policy_format_section(constraints)),
        "\n".join(_scenario_section(scenario, _collateral_trees_allowed(constraints))),
        "\n".join(_contract_section()),
    ]
    return "\n\n".join(parts) + "\n"
