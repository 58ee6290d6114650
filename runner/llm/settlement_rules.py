"""The system prompt's lines on the settlement rules a scenario turns on (issue #10).

Each rule is described only when the scenario uses it, in the terms docs/engine.md decides:
LSM cycles, this agent's own outflow limits, queue ordering and priority escalation, and this
agent's collateral. Another bank's limits or collateral never appear (`SettlementFacts`
holds only the agent's own). Money is shown in dollars, like the rest of the prompt.
"""

from __future__ import annotations

from runner.money import format_cents
from runner.proposals import SettlementFacts


def _cents(x: int) -> str:
    return format_cents(float(x))


def lsm_lines(facts: SettlementFacts) -> list[str]:
    if not facts.cycles:
        return []
    return [
        f"- Multilateral cycles: after the central queue is retried, payments waiting in it "
        f"that form a ring of 3 to {facts.max_cycle_length} banks (A pays B, B pays C, "
        "C pays A) settle together when every bank in the ring can cover its net outflow; "
        "every waiting payment on the ring's links settles at full value, so only the net "
        "amounts need liquidity."
    ]


def limit_lines(facts: SettlementFacts) -> list[str]:
    if not facts.bilateral_limits and facts.multilateral_limit is None:
        return []
    caps = [f"to {cpty} at most {_cents(cents)}" for cpty, cents in facts.bilateral_limits]
    if facts.multilateral_limit is not None:
        caps.append(f"in total at most {_cents(facts.multilateral_limit)}")
    return [
        f"- Your outflow limits: each day you may send {'; '.join(caps)} (gross value of "
        "settled payments, counted on every settlement path, offsetting and cycles "
        "included; reset at the end of each day). A payment that would break a limit "
        "waits in the central queue."
    ]


def priority_lines(facts: SettlementFacts) -> list[str]:
    lines = []
    if facts.escalation is not None:
        start, boost = facts.escalation
        lines.append(
            f"- Priority escalation: when a payment has r <= {start} ticks left to its "
            f"deadline, its priority rises to at least its original priority + "
            f"round({boost} x (1 - r/{start})), at most 10 (this can move it into a "
            "dearer delay band)."
        )
    if facts.queue1_priority_deadline:
        lines.append(
            "- Your internal queue is sorted every tick by priority (highest first), "
            "then deadline, before your payment tree runs: payments are decided, "
            "released and charged against release budgets in that order."
        )
    if facts.priority_mode:
        lines.append(
            "- The central queue is retried in order of declared RTGS priority "
            "(HighlyUrgent, Urgent, then Normal), then submission tick; a released "
            "payment is declared Normal."
        )
    return lines


def collateral_lines(facts: SettlementFacts, trees_allowed: bool) -> list[str]:
    capacity = facts.max_collateral_capacity
    if not (facts.posted_collateral or trees_allowed or capacity is not None):
        return []
    cap_text = (
        _cents(capacity) if capacity is not None else f"{_cents(10 * facts.unsecured_cap)} (10 x your unsecured credit)"
    )
    lines = [
        f"- Collateral: you start with {_cents(facts.posted_collateral)} posted and may "
        f"post up to {cap_text} in total. Posted collateral, less a "
        f"{facts.collateral_haircut * 100:g}% haircut (rounded down to a cent), adds to your "
        "overdraft limit on top of your unsecured credit; it costs the collateral rate "
        "every tick it stays posted."
    ]
    if trees_allowed:
        lines.append(
            "  Your strategic collateral tree runs after the arrivals and your "
            "end-of-tick collateral tree after settlement: PostCollateral is cut to the "
            "capacity left (nothing if the amount is <= 0); WithdrawCollateral takes "
            "back at most what is posted; auto_withdraw_after_ticks = k withdraws a "
            "post again k ticks later, but only as much as keeps your overdraft limit "
            "100 cents above the credit you use."
        )
    return lines


def settlement_lines(facts: SettlementFacts, collateral_trees_allowed: bool) -> list[str]:
    """Every line for the rules ``facts`` turns on (none when the scenario uses none)."""
    return [
        *lsm_lines(facts),
        *limit_lines(facts),
        *priority_lines(facts),
        *collateral_lines(facts, collateral_trees_allowed),
    ]
