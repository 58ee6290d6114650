"""Random policy documents for the oracle differential test (`oracle_scenarios`).

Trees read only fields whose meaning SimCash and paylab share, carry the node ids SimCash
requires, and answer only actions both engines run alike: never ``Drop`` or
``WithdrawFromRtgs`` (SimCash lets the payment escape costs: a documented difference);
``ResubmitToRtgs`` only for a payment in the central queue; ``PostCollateral`` at most the
capacity left (SimCash stops the run otherwise, paylab cuts it).
"""

from __future__ import annotations

import random
from typing import Any

RTGS_PRIORITIES = ("HighlyUrgent", "Urgent", "Normal")

# Fields whose meaning SimCash and paylab share (payment tree / every tree).
TX_FIELDS = (
    "amount",
    "remaining_amount",
    "ticks_to_deadline",
    "priority",
    "queue_age",
    "arrival_tick",
    "deadline_tick",
)
BANK_FIELDS = (
    "balance",
    "available_liquidity",
    "queue1_total_value",
    "system_tick_in_day",
    "current_tick",
    "unsecured_cap",
    "credit_used",
    "outgoing_queue_size",
    "queue2_count_for_agent",
    "effective_liquidity",
    "queue1_liquidity_gap",
)
COLLATERAL_FIELDS = (
    "posted_collateral",
    "remaining_collateral_capacity",
    "max_collateral_capacity",
    "allowed_overdraft_limit",
    "excess_collateral",
)


class PolicyParts:
    """The policy half of the scenario builder: trees from ``self.r`` for ``self.features``."""

    r: random.Random
    features: frozenset[str]
    nodes: int

    def on(self, feature: str) -> bool:
        return feature in self.features

    def leaf(self, fields: tuple[str, ...]) -> dict[str, Any]:
        r = self.r
        if r.random() < 0.45:
            return {"value": r.choice((0, 1, 2, 5, r.randint(0, 3_000)))}
        if r.random() < 0.1:
            return {"param": "threshold"}
        return {"field": r.choice(fields)}

    def value(self, fields: tuple[str, ...]) -> dict[str, Any]:
        r = self.r
        if r.random() < 0.75:
            return self.leaf(fields)
        op = r.choice(("+", "-", "*", "max", "min"))
        if op in ("max", "min"):
            return {"compute": {"op": op, "values": [self.leaf(fields), self.leaf(fields)]}}
        return {"compute": {"op": op, "left": self.leaf(fields), "right": self.leaf(fields)}}

    def condition(self, fields: tuple[str, ...]) -> dict[str, Any]:
        r = self.r
        cmp = {
            "op": r.choice(("<", "<=", ">", ">=", "==", "!=")),
            "left": {"field": r.choice(fields)},
            "right": self.value(fields),
        }
        if r.random() < 0.2:
            return {"op": r.choice(("and", "or")), "conditions": [cmp, self.condition(fields)]}
        return cmp

    def node_id(self) -> str:
        self.nodes += 1
        return f"n{self.nodes}"  # SimCash requires node ids (paylab fills missing ones)

    def tree(self, depth: int, fields: tuple[str, ...], action: Any) -> dict[str, Any]:
        if depth <= 0 or self.r.random() < 0.25:
            node: dict[str, Any] = {"node_id": self.node_id(), **action()}
            return node
        return {
            "type": "condition",
            "node_id": self.node_id(),
            "condition": self.condition(fields),
            "on_true": self.tree(depth - 1, fields, action),
            "on_false": self.tree(depth - 1, fields, action),
        }

    def bank_fields(self) -> tuple[str, ...]:
        return BANK_FIELDS + (COLLATERAL_FIELDS if self.on("collateral") else ())

    def payment_action(self) -> dict[str, Any]:
        r = self.r
        if self.on("splitting") and r.random() < 0.3:
            return self.split_action()
        action = r.choice(
            ("Release", "Release", "Release", "Release", "Release", "Hold", "Reprioritize", "ReleaseWithCredit")
        )
        node: dict[str, Any] = {"type": "action", "action": action}
        if action == "Reprioritize":
            node["parameters"] = {"new_priority": {"value": r.randint(0, 10)}}
        elif action != "Hold" and r.random() < 0.3:
            node["parameters"] = {"priority_flag": {"value": r.choice(("HIGH", "MEDIUM", "LOW"))}}
        return node

    def split_action(self) -> dict[str, Any]:
        """A split of a scenario payment of at least 4 cents (SimCash stops the run on a 0-cent
        part, and counts a payment whose parts are split again as never settled: both
        documented differences), else Release. With the ``resubmit`` feature parts may be
        resubmitted from Queue 2 (and split no further: they are parts)."""
        r = self.r
        action = r.choice(("Split", "PaceAndRelease", "StaggerSplit"))
        parts = r.randint(2, 4)
        args: dict[str, Any] = {"num_splits": {"value": parts}}
        if action == "StaggerSplit":  # SimCash requires all four, stagger_first_now ≤ num_splits
            args.update(
                stagger_first_now={"value": r.randint(0, parts)},
                stagger_gap_ticks={"value": r.randint(0, 3)},
                priority_boost_children={"value": r.randint(0, 3)},
            )
        guard = {
            "op": "and",
            "conditions": [
                {"op": ">=", "left": {"field": "amount"}, "right": {"value": 4}},
                {"op": "==", "left": {"field": "is_split"}, "right": {"value": 0}},
            ],
        }
        return {
            "type": "condition",
            "condition": guard,
            "on_true": {"type": "action", "node_id": self.node_id(), "action": action, "parameters": args},
            "on_false": {"type": "action", "node_id": self.node_id(), "action": "Release"},
        }

    def queue2_action(self) -> dict[str, Any]:
        """In the central queue only ResubmitToRtgs (and no-ops) are honoured."""
        r = self.r
        if r.random() < 0.5:
            return {
                "type": "action",
                "action": "ResubmitToRtgs",
                "parameters": {"rtgs_priority": {"value": r.choice(RTGS_PRIORITIES)}},
            }
        return {"type": "action", "action": "Hold"}

    def bank_action(self) -> dict[str, Any]:
        r = self.r
        action = r.choice(("SetReleaseBudget", "SetState", "AddState", "NoAction"))
        node: dict[str, Any] = {"type": "action", "action": action}
        if action == "SetReleaseBudget":
            args: dict[str, Any] = {"max_value_to_release": {"value": r.randint(0, 4_000)}}
            if r.random() < 0.4:
                args["max_per_counterparty"] = {"value": r.randint(0, 3_000)}
            node["parameters"] = args
        elif action != "NoAction":
            node["parameters"] = {"key": {"value": "bank_state_x"}, "value": self.value(self.bank_fields())}
        return node

    def collateral_action(self) -> dict[str, Any]:
        r = self.r
        action = r.choice(("PostCollateral", "WithdrawCollateral", "HoldCollateral"))
        node: dict[str, Any] = {"type": "action", "action": action}
        amount = (
            {"value": r.randint(1, 3_000)}
            if r.random() < 0.7
            else {"field": r.choice(("queue1_liquidity_gap", "queue1_total_value", "posted_collateral"))}
        )
        if action == "PostCollateral":  # more than the remaining capacity aborts SimCash's tick
            args: dict[str, Any] = {
                "amount": {"compute": {"op": "min", "values": [amount, {"field": "remaining_collateral_capacity"}]}}
            }
            if self.on("collateral_timers") and r.random() < 0.5:
                args["auto_withdraw_after_ticks"] = {"value": r.randint(1, 4)}
            node["parameters"] = args
        elif action == "WithdrawCollateral":
            node["parameters"] = {"amount": amount}
        return node

    def policy_doc(self, agent: str, fraction: float | None) -> dict[str, Any]:
        r = self.r
        tx_fields = TX_FIELDS + self.bank_fields()
        doc: dict[str, Any] = {
            "version": "1.0",
            "policy_id": f"random-{agent}",
            "parameters": {"threshold": r.randint(0, 3_000)},
        }
        if fraction is not None:
            doc["parameters"]["initial_liquidity_fraction"] = fraction
        with_bank_tree = self.on("bank_trees") and r.random() < 0.6
        tree = self.tree(r.randint(0, 3), tx_fields, self.payment_action)
        if self.on("resubmit"):
            tree = {
                "type": "condition",
                "node_id": self.node_id(),
                "condition": {"op": "==", "left": {"field": "is_in_queue2"}, "right": {"value": 1}},
                "on_true": self.tree(1, tx_fields, self.queue2_action),
                "on_false": tree,
            }
        doc["payment_tree"] = tree
        if with_bank_tree:
            doc["bank_tree"] = self.tree(r.randint(0, 2), self.bank_fields(), self.bank_action)
        if self.on("collateral_trees"):
            for name in ("strategic_collateral_tree", "end_of_tick_collateral_tree"):
                if r.random() < 0.7:
                    doc[name] = self.tree(r.randint(0, 2), self.bank_fields(), self.collateral_action)
        return doc
