"""Helpers shared across the test packages: small policy documents and a recording event sink."""

from __future__ import annotations

from typing import Any

from runner.experiment.events import Event


def fraction_policy(
    fraction: float, policy_id: str = "scripted", *, node_id: str = "release", bank_tree: bool = False
) -> dict[str, Any]:
    """A Release-everything policy that brings ``fraction`` of the liquidity pool (and, with
    ``bank_tree``, an idle bank tree)."""
    doc: dict[str, Any] = {
        "version": "1.0",
        "policy_id": policy_id,
        "parameters": {"initial_liquidity_fraction": fraction},
        "payment_tree": {"type": "action", "node_id": node_id, "action": "Release"},
    }
    if bank_tree:
        doc["bank_tree"] = {"type": "action", "node_id": "bank_idle", "action": "NoAction"}
    return doc


class RecordingSink:
    """An event sink that keeps every event it receives."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)
