"""What the system prompt says about the policy language: trees, actions, values, operators.

Plain data, kept apart from prompt assembly (`runner.llm.policy_reference`) so the wording of
the DSL reference can be reviewed in one place. Action parameters come from the parser's own
tables, so the prompt cannot drift from what `validate_policy` accepts.
"""

from __future__ import annotations

from runner.engine.rules import QUEUE2_ACTIONS
from runner.policy.fields import FIELDS, STATE_PREFIX, TX_FIELDS
from runner.policy.parse import ACTION_ARGS, LIST_ARGS, REQUIRED_ARGS, STRING_ARGS
from runner.policy.program import LIQUIDITY_PARAM
from runner.policy.tree import COMPARISONS

TREE_DOCS = {
    "payment_tree": "runs every tick for each payment waiting in your internal queue and decides "
    "what happens to that payment",
    "bank_tree": "runs once per tick, before the payment decisions (payment fields are not available here)",
    "strategic_collateral_tree": "runs once per tick and manages posted collateral",
    "end_of_tick_collateral_tree": "runs at the end of each tick and manages posted collateral",
}

ACTION_DOCS = {
    "Release": "submit the payment now; it settles at once if you can cover it, otherwise it "
    "waits in the central queue",
    "ReleaseWithCredit": "like Release",
    "Hold": "keep the payment in your internal queue; it is decided again next tick and keeps accruing delay cost",
    "Split": "split the payment into num_splits parts (2 to 100, at most one per cent; the "
    "last part takes the remainder) and release them all now: each part settles on "
    "its own when you can cover it, so a payment too large for your balance can go "
    "out piece by piece; costs split friction x (parts - 1) at once, and deadline and "
    "end-of-day penalties apply to each unsettled part; a split part has is_split = 1",
    "PaceAndRelease": "the same as Split",
    "StaggerSplit": "split like Split, release the first stagger_first_now parts now (default "
    "1) and put the others back in your internal queue, where the tree "
    "decides them again next tick (stagger_gap_ticks has no effect); "
    "priority_boost_children raises the parts' priority (max 10)",
    "Reprioritize": "set the payment's priority (0-10) and keep it queued",
    "Drop": "remove the payment from the queue; it still counts as unsettled and keeps costing",
    "WithdrawFromRtgs": "take a payment that waits in the central queue (is_in_queue2 = 1) "
    "back into your internal queue",
    "ResubmitToRtgs": "move a payment that waits in the central queue (is_in_queue2 = 1) back "
    "to your internal queue with a new declared RTGS priority (rtgs_priority: "
    "HighlyUrgent, Urgent or Normal), which orders the central queue when "
    "its priority ordering is on",
    "NoAction": "do nothing",
    "SetReleaseBudget": "cap the value (cents) your payment tree may release this tick",
    "SetState": "store a number in a register (key must start with bank_state_), readable as a "
    "field until the end of the day",
    "AddState": "add a number to a register (key must start with bank_state_)",
    "PostCollateral": "post collateral (amount in cents, cut to the capacity left; nothing if "
    "<= 0): it raises your overdraft limit by the amount less the haircut and "
    "costs the collateral rate every tick it stays posted; "
    "auto_withdraw_after_ticks = k takes it back k ticks later (only as much "
    "as keeps your overdraft limit 100 cents above the credit you use)",
    "WithdrawCollateral": "withdraw collateral (amount in cents, at most what is posted); lowers your overdraft limit",
    "HoldCollateral": "leave collateral unchanged",
}

PARAMETER_DOCS = {
    LIQUIDITY_PARAM: "share of your liquidity pool brought into your account at the start of each "
    "day (amount = pool x fraction, rounded down); that amount pays the liquidity "
    "opportunity cost every tick",
}

VALUE_KINDS = (
    '{"field": NAME} — a context field listed above',
    '{"param": NAME} — a parameter declared in "parameters"',
    '{"value": NUMBER} — a constant',
    '{"compute": {...}} — arithmetic on values: {"op": "+"|"-"|"*"|"/", "left": V, "right": V}; '
    '{"op": "max"|"min", "values": [V, ...]}; {"op": "ceil"|"floor"|"round"|"abs", "value": V}; '
    '{"op": "clamp", "value": V, "min": V, "max": V}; '
    '{"op": "div0", "numerator": V, "denominator": V, "default": V} (division with a default '
    "when the denominator is 0)",
)

CONDITION_FORMS = (
    '{"op": OP, "left": V, "right": V} with OP one of ' + " ".join(COMPARISONS),
    '{"op": "and"|"or", "conditions": [C, ...]}',
    '{"op": "not", "condition": C}',
)

NODE_FORMS = (
    '{"type": "condition", "node_id": ID, "condition": C, "on_true": NODE, "on_false": NODE}',
    '{"type": "action", "node_id": ID, "action": NAME, "parameters": {...}} '
    '("parameters" only when the action takes any)',
)


def tree_doc(tree: str, actions: list[str] | tuple[str, ...]) -> str:
    """What a tree does; the payment tree also judges central-queue payments when it may
    answer an action that acts there."""
    text = TREE_DOCS[tree]
    if tree == "payment_tree" and any(a in QUEUE2_ACTIONS for a in actions):
        text += (
            "; after that pass it also judges each of your payments waiting in the central "
            "queue (is_in_queue2 = 1), where only WithdrawFromRtgs and ResubmitToRtgs act "
            "and any other answer leaves the payment waiting"
        )
    return text


def field_doc(name: str) -> str:
    """One line for a context field: its meaning, and where it can be read."""
    if name.startswith(STATE_PREFIX):
        return f"{name} — a register set by SetState/AddState (0 until set)"
    spec = FIELDS[name]
    where = " (payment tree only)" if name in TX_FIELDS else ""
    return f"{name}{where} — {spec.doc}"


def action_doc(action: str) -> str:
    """One line for an action: what it does and the parameters it takes."""
    args = sorted(ACTION_ARGS.get(action, set()))
    required = REQUIRED_ARGS.get(action, set())
    text = f"{action} — {ACTION_DOCS.get(action, action)}"
    if not args:
        return text
    parts = []
    for arg in args:
        kind = "text" if arg in STRING_ARGS else "list of bank ids" if arg in LIST_ARGS else "value"
        parts.append(f"{arg} ({kind}{', required' if arg in required else ''})")
    return f"{text}; parameters: {', '.join(parts)}"
