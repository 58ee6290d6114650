"""Per-experiment limits on what a policy may use (``policy_constraints`` in an experiment)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from runner.config_base import Strict
from runner.policy.fields import FIELDS, STATE_PREFIX
from runner.policy.tree import ACTIONS_BY_TREE

TREE_ALIASES = {"collateral_tree": "strategic_collateral_tree"}


class ParameterSpec(Strict):
    """A tunable policy parameter: its type and inclusive bounds."""

    name: str = Field(min_length=1)
    param_type: Literal["int", "float", "enum"] = "float"
    min_value: float | None = None
    max_value: float | None = None
    allowed_values: list[float | str] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> ParameterSpec:
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"min_value must be <= max_value, got {self.min_value} > {self.max_value}")
        if self.param_type == "enum" and not self.allowed_values:
            raise ValueError("an enum parameter needs allowed_values")
        return self

    def check(self, value: object) -> str | None:
        """Why ``value`` is not acceptable, or None if it is."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {value!r}"
        if self.param_type == "enum":
            if self.allowed_values is not None and value not in self.allowed_values:
                return f"must be one of {self.allowed_values}, got {value!r}"
            return None
        if self.param_type == "int" and float(value) != int(value):
            return f"must be an integer, got {value!r}"
        if self.min_value is not None and value < self.min_value:
            return f"must be >= {self.min_value:g}, got {value!r}"
        if self.max_value is not None and value > self.max_value:
            return f"must be <= {self.max_value:g}, got {value!r}"
        return None


class ScenarioConstraints(Strict):
    """What an optimised policy may contain.

    ``allowed_actions`` maps a tree name to its permitted actions; a tree that is not listed
    may not be used at all (stricter than SimCash, where an absent tree meant "anything").
    """

    allowed_parameters: list[ParameterSpec] = Field(default_factory=list)
    allowed_fields: list[str] = Field(default_factory=list)
    allowed_actions: dict[str, list[str]] = Field(default_factory=dict)
    lsm_enabled: bool | None = None

    @model_validator(mode="after")
    def _known_names(self) -> ScenarioConstraints:
        for i, name in enumerate(self.allowed_fields):
            if name not in FIELDS and not name.startswith(STATE_PREFIX):
                raise ValueError(f"allowed_fields[{i}]: '{name}' is not a known field")
        for tree, actions in self.allowed_actions.items():
            canonical = TREE_ALIASES.get(tree, tree)
            if canonical not in ACTIONS_BY_TREE:
                raise ValueError(f"allowed_actions.{tree}: unknown tree")
            for action in actions:
                if action not in ACTIONS_BY_TREE[canonical]:
                    raise ValueError(f"allowed_actions.{tree}: '{action}' is not an action of {canonical}")
        names = [p.name for p in self.allowed_parameters]
        if len(set(names)) != len(names):
            raise ValueError("allowed_parameters: parameter names must be unique")
        return self

    def parameter(self, name: str) -> ParameterSpec | None:
        for p in self.allowed_parameters:
            if p.name == name:
                return p
        return None

    def actions_for(self, tree: str) -> list[str] | None:
        """Allowed actions of ``tree``; None when the tree is not allowed at all."""
        for key, actions in self.allowed_actions.items():
            if TREE_ALIASES.get(key, key) == tree:
                return actions
        return None
