"""Offline proposers (no network) and the factory that picks a proposer for a model string.

* ``builtin/coordinate`` — a deterministic pattern search over the allowed numeric
  parameters: step a parameter by ``±step``; keep going while proposals are accepted; after a
  rejection try the other direction; after both fail halve the step and move to the next
  parameter. It is stateless: its position is replayed from the agent's history, so a
  resumed run proposes exactly what an uninterrupted one would.
* ``builtin/none`` — never proposes (the no-optimisation baseline).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from runner.llm.config import LLMConfig
from runner.policy.constraints import ParameterSpec, ScenarioConstraints
from runner.policy.validate import validate_policy
from runner.proposals import PolicyDoc, PolicyGenerationResult, PolicyProposer, ProposalContext

if TYPE_CHECKING:
    from runner.llm.transport import LLMTransport

BUILTIN_PROPOSERS = ("builtin/coordinate", "builtin/none")


@dataclass(frozen=True)
class _Search:
    steps: tuple[float, ...]  # per parameter
    directions: tuple[int, ...]
    flipped: tuple[bool, ...]  # the other direction was already tried at this step
    k: int  # parameter being moved

    def fail(self, n: int) -> _Search:
        if not self.flipped[self.k]:
            return replace(
                self,
                directions=_set(self.directions, self.k, -self.directions[self.k]),
                flipped=_set(self.flipped, self.k, True),
            )
        return replace(
            self,
            steps=_set(self.steps, self.k, self.steps[self.k] / 2),
            flipped=_set(self.flipped, self.k, False),
            k=(self.k + 1) % n,
        )

    def succeed(self) -> _Search:
        return replace(self, flipped=_set(self.flipped, self.k, False))


def _set(t: tuple, i: int, v: object) -> tuple:  # type: ignore[type-arg]
    return (*t[:i], v, *t[i + 1 :])


class CoordinateProposer:
    """Deterministic coordinate (pattern) search over the constraints' numeric parameters."""

    name = "builtin/coordinate"

    def __init__(self, constraints: ScenarioConstraints, initial_step: float = 0.1, min_step: float = 0.004) -> None:
        self.constraints = constraints
        self.specs = [
            p
            for p in constraints.allowed_parameters
            if p.param_type in ("int", "float")
            and p.min_value is not None
            and p.max_value is not None
            and p.max_value > p.min_value
        ]
        self.initial_step = initial_step
        self.min_step = min_step

    def _start(self) -> _Search:
        n = len(self.specs)
        steps = tuple(
            self.initial_step * (s.max_value - s.min_value)  # type: ignore[operator]
            for s in self.specs
        )
        return _Search(steps, (-1,) * n, (False,) * n, 0)

    def _value(self, spec: ParameterSpec, params: dict[str, float]) -> float:
        lo, hi = float(spec.min_value or 0.0), float(spec.max_value or 0.0)
        return float(params.get(spec.name, (lo + hi) / 2))

    def _next(self, search: _Search, params: dict[str, float]) -> tuple[_Search, str, float] | None:
        n = len(self.specs)
        for _ in range(64 * n):
            if all(self._done(s, spec) for s, spec in zip(search.steps, self.specs, strict=True)):
                return None
            spec = self.specs[search.k]
            if self._done(search.steps[search.k], spec):
                search = replace(search, k=(search.k + 1) % n)
                continue
            current = self._value(spec, params)
            step = search.steps[search.k]
            value = current + search.directions[search.k] * step
            value = min(float(spec.max_value or 0), max(float(spec.min_value or 0), value))
            if spec.param_type == "int":
                value = float(round(value))
            value = round(value, 12)
            if abs(value - current) > 1e-12:
                return search, spec.name, value
            search = search.fail(n)  # against a bound: counts as a rejection, no engine run
        return None

    def _done(self, step: float, spec: ParameterSpec) -> bool:
        if spec.param_type == "int":
            return step < 0.5
        return step < self.min_step * (float(spec.max_value or 0) - float(spec.min_value or 0))

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult:
        if not self.specs:
            return PolicyGenerationResult(None, 0, errors=("no bounded numeric parameter to tune",))
        search = self._start()
        for record in context.history:
            if record.proposal is None:
                continue
            step = self._next(search, dict(record.policy.get("parameters", {})))
            if step is None:
                break
            search = step[0].succeed() if record.accepted else step[0].fail(len(self.specs))
        current = dict(context.current_policy.get("parameters", {}))
        found = self._next(search, current)
        if found is None:
            return PolicyGenerationResult(None, 0, errors=("search converged: every step below its minimum",))
        _, name, value = found
        policy: PolicyDoc = copy.deepcopy(context.current_policy)
        policy["parameters"] = {**current, name: value}
        errors = validate_policy(policy, self.constraints)
        if errors:
            return PolicyGenerationResult(None, 1, errors=tuple(errors))
        return PolicyGenerationResult(policy, 1)


class NoneProposer:
    """Never proposes anything: the no-optimisation baseline."""

    name = "builtin/none"

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult:
        return PolicyGenerationResult(None, 0, errors=("builtin/none does not propose",))


def make_proposer(
    llm: LLMConfig, constraints: ScenarioConstraints, system_prompt: str | None, transport: LLMTransport | None = None
) -> PolicyProposer:
    """The proposer for ``llm.model``: a builtin one, or the litellm client.

    ``transport`` is where the client's calls go (default: litellm in this process); the
    builtin proposers make none.
    """
    if llm.model == "builtin/coordinate":
        return CoordinateProposer(constraints)
    if llm.model == "builtin/none":
        return NoneProposer()
    if llm.is_builtin:
        from runner.errors import ConfigError

        raise ConfigError(
            f"unknown builtin proposer '{llm.model}' (use {' or '.join(BUILTIN_PROPOSERS)})", path="llm.model"
        )
    from runner.llm.client import ExperimentLLMClient

    return ExperimentLLMClient(llm, constraints, system_prompt, transport=transport)
