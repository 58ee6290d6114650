"""Built-in named policies (``{type: Fifo}``, ``Deadline``, ``LiquidityAware``,
``LiquiditySplitting``, ``MockSplitting`` in scenarios; docs/engine.md describes them).

They are ordinary policy documents shipped as JSON next to this module; keyword arguments
given in the scenario override their ``parameters``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

NAMED_POLICY_FILES = {
    "Fifo": "fifo.json",
    "Deadline": "deadline.json",
    "LiquidityAware": "liquidity_aware.json",
    "LiquiditySplitting": "liquidity_splitting.json",
    "MockSplitting": "mock_splitting.json",
}


def named_policy(name: str, params: dict[str, float] | None = None) -> dict[str, Any]:
    """The policy document of built-in policy ``name`` with ``params`` applied."""
    text = resources.files(__name__).joinpath(NAMED_POLICY_FILES[name]).read_text()
    doc: dict[str, Any] = json.loads(text)
    doc["parameters"] = {**doc.get("parameters", {}), **(params or {})}
    return doc
