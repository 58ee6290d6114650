"""Bank policies: the JSON decision-tree DSL, its validation and its compiled form."""

from runner.policy.constraints import ParameterSpec, ScenarioConstraints
from runner.policy.library import named_policy
from runner.policy.program import PolicyProgram
from runner.policy.tree import Policy
from runner.policy.validate import parse_valid_policy, validate_policy

__all__ = [
    "ParameterSpec",
    "Policy",
    "PolicyProgram",
    "ScenarioConstraints",
    "named_policy",
    "parse_valid_policy",
    "validate_policy",
]
