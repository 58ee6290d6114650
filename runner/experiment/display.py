"""Terminal output of a run, rendered from its events only.

Because `VerboseLogger` sees nothing but events, ``paylab replay`` feeding it the stored
events prints exactly what the live run printed (same verbosity, same text).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from runner.experiment.event_types import (
    ContextDayPayload,
    ConvergedPayload,
    DecisionPayload,
    EvaluationPayload,
    ExperimentEndPayload,
    ExperimentStartPayload,
    IterationStartPayload,
    ProposalPayload,
    ReferenceCostPayload,
)
from runner.experiment.events import Event
from runner.money import format_cents
from runner.proposals import LLMInteraction, PolicyChanges


def param_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    """Short description of what a proposal changes ("initial_liquidity_fraction 0.5→0.4")."""
    if not new:
        return "no valid proposal"
    changes = PolicyChanges.between(old, new)
    kept = sorted((c for c in changes.parameters if c.after is not None), key=lambda c: c.name)
    parts = [
        f"{c.name} {'–' if c.before is None else c.before}→{c.after:g}"
        if isinstance(c.after, int | float)
        else f"{c.name}→{c.after}"
        for c in kept
    ]
    parts += sorted(f"-{c.name}" for c in changes.parameters if c.after is None)
    if changes.trees:
        parts.append("changed " + ", ".join(changes.trees))
    return "; ".join(parts) or "same policy"


@dataclass(frozen=True)
class VerboseConfig:
    """Which sections to print; ``from_level(n)`` maps ``-v`` counts to sections."""

    decisions: bool = True
    evaluations: bool = False
    llm: bool = False
    samples: bool = False

    @classmethod
    def from_level(cls, level: int) -> VerboseConfig:
        return cls(decisions=True, evaluations=level >= 1, llm=level >= 2, samples=level >= 3)


class VerboseLogger:
    """An event sink that prints a run's progress to a text stream."""

    def __init__(self, config: VerboseConfig | None = None, stream: TextIO | None = None) -> None:
        self.config = config or VerboseConfig()
        self.stream = stream

    def write(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout)

    def handle(self, event: Event) -> None:
        it = event.iteration
        match event.payload:
            case ExperimentStartPayload() as p:
                self.write(
                    f"run {p.run_id}  experiment {p.experiment}  model {p.model}  "
                    f"mode {p.mode}  agents {', '.join(p.agents)}  seed {p.master_seed}"
                    f"  replicate {p.replicate}"
                )
            case IterationStartPayload() if self.config.evaluations:
                self.write(f"── iteration {it}")
            case ContextDayPayload() as p if self.config.evaluations:
                costs = ", ".join(f"{a} {format_cents(c)}" for a, c in p.costs.items())
                self.write(f"   context day (seed {p.seed}): {costs}")
            case EvaluationPayload() as p if self.config.evaluations:
                self.write(
                    f"   {p.agent}: current policy {format_cents(p.mean)} ± {format_cents(p.std)} "
                    f"over {p.n} samples, settlement {p.settlement:.1%}"
                )
            case LLMInteraction() as p if self.config.llm:
                status = p.error or ("; ".join(p.validation_errors) or "valid")
                tokens = f"{p.prompt_tokens}+{p.completion_tokens} tokens"
                self.write(f"   {p.agent_id} attempt {p.attempt} [{p.model}] {tokens}: {status[:160]}")
            case ProposalPayload() as p if not p.valid and self.config.decisions:
                why = "; ".join(p.errors)[:200] or "no proposal"
                self.write(f"it {it:>3} {p.agent:<10} ✗ no valid proposal after {p.attempts} attempt(s): {why}")
            case DecisionPayload() as p if self.config.decisions:
                self._decision(it, p)
            case ReferenceCostPayload() as p:
                agents = "  ".join(f"{a} {format_cents(c)}" for a, c in p.costs.items())
                label = "baseline" if it == 0 else f"iteration {it}"
                self.write(f"{label:>12}: total {format_cents(p.total)}  {agents}  (reference set, {p.n} samples)")
            case ConvergedPayload() as p:
                self.write(f"converged at iteration {it}: {p.reason}")
            case ExperimentEndPayload() as p:
                self._end(p)

    def _decision(self, it: int, p: DecisionPayload) -> None:
        mark = "✓ accepted" if p.accepted else "✗ rejected"
        head = f"it {it:>3} {p.agent:<10} {mark}  {param_changes(p.policy, p.proposal)}"
        if p.n == 0:  # the proposal could not be run at all
            self.write(f"{head} — {p.reason}")
            return
        level = 0.95 if p.confidence is None else p.confidence  # (events stored before it was recorded)
        ci = f" {level:.0%}CI [{p.ci_low:+.0f}, {p.ci_high:+.0f}]¢" if p.n > 1 else ""
        self.write(
            f"{head}  mean {format_cents(p.old_mean)}→{format_cents(p.new_mean)}  Δ {p.mean_delta:+.0f}¢"
            f"{ci} (n={p.n}) — {p.reason}"
        )
        if self.config.samples and p.deltas:
            self.write("      deltas (¢): " + " ".join(str(d) for d in p.deltas))

    def _end(self, p: ExperimentEndPayload) -> None:
        self.write(
            f"stopped: {p.stop_reason} after {p.iterations} iteration(s); "
            f"total cost {format_cents(p.baseline_total)} → {format_cents(p.final_total)}"
        )
        for agent, params in p.final_parameters.items():
            self.write(f"  {agent}: {json.dumps(params, sort_keys=True)}")
