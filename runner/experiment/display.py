"""Terminal output of a run, rendered from its events only.

Because `VerboseLogger` sees nothing but events, ``paylab replay`` feeding it the stored
events prints exactly what the live run printed (same verbosity, same text).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from runner.experiment.events import Event
from runner.money import format_cents
from runner.proposals import PolicyChanges


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
        render = getattr(self, f"_on_{event.type}", None)
        if render is not None:
            render(event.iteration, event.payload)

    def _on_experiment_start(self, it: int, p: dict[str, Any]) -> None:
        self.write(
            f"run {p['run_id']}  experiment {p['experiment']}  model {p['model']}  "
            f"mode {p['mode']}  agents {', '.join(p['agents'])}  seed {p['master_seed']}"
            f"  replicate {p['replicate']}"
        )

    def _on_iteration_start(self, it: int, p: dict[str, Any]) -> None:
        if self.config.evaluations:
            self.write(f"── iteration {it}")

    def _on_context_day(self, it: int, p: dict[str, Any]) -> None:
        if self.config.evaluations:
            costs = ", ".join(f"{a} {format_cents(c)}" for a, c in p["costs"].items())
            self.write(f"   context day (seed {p['seed']}): {costs}")

    def _on_evaluation(self, it: int, p: dict[str, Any]) -> None:
        if self.config.evaluations:
            self.write(
                f"   {p['agent']}: current policy {format_cents(p['mean'])} ± {format_cents(p['std'])} "
                f"over {p['n']} samples, settlement {p['settlement']:.1%}"
            )

    def _on_llm_interaction(self, it: int, p: dict[str, Any]) -> None:
        if not self.config.llm:
            return
        status = p.get("error") or ("; ".join(p.get("validation_errors") or []) or "valid")
        tokens = f"{p.get('prompt_tokens')}+{p.get('completion_tokens')} tokens"
        self.write(f"   {p['agent_id']} attempt {p['attempt']} [{p['model']}] {tokens}: {status[:160]}")

    def _on_proposal(self, it: int, p: dict[str, Any]) -> None:
        if not p["valid"] and self.config.decisions:
            why = "; ".join(p["errors"])[:200] or "no proposal"
            self.write(f"it {it:>3} {p['agent']:<10} ✗ no valid proposal after {p['attempts']} attempt(s): {why}")

    def _on_decision(self, it: int, p: dict[str, Any]) -> None:
        if not self.config.decisions:
            return
        mark = "✓ accepted" if p["accepted"] else "✗ rejected"
        if p["n"] == 0:  # the proposal could not be run at all
            self.write(
                f"it {it:>3} {p['agent']:<10} {mark}  {param_changes(p['policy'], p['proposal'])} — {p['reason']}"
            )
            return
        level = p.get("confidence", 0.95)  # (events stored before it was recorded: 95 %)
        ci = f" {level:.0%}CI [{p['ci_low']:+.0f}, {p['ci_high']:+.0f}]¢" if p["n"] > 1 else ""
        self.write(
            f"it {it:>3} {p['agent']:<10} {mark}  {param_changes(p['policy'], p['proposal'])}  "
            f"mean {format_cents(p['old_mean'])}→{format_cents(p['new_mean'])}  Δ {p['mean_delta']:+.0f}¢"
            f"{ci} (n={p['n']}) — {p['reason']}"
        )
        if self.config.samples and p.get("deltas"):
            self.write("      deltas (¢): " + " ".join(str(d) for d in p["deltas"]))

    def _on_reference_cost(self, it: int, p: dict[str, Any]) -> None:
        agents = "  ".join(f"{a} {format_cents(c)}" for a, c in p["costs"].items())
        label = "baseline" if it == 0 else f"iteration {it}"
        self.write(f"{label:>12}: total {format_cents(p['total'])}  {agents}  (reference set, {p['n']} samples)")

    def _on_converged(self, it: int, p: dict[str, Any]) -> None:
        self.write(f"converged at iteration {it}: {p['reason']}")

    def _on_experiment_end(self, it: int, p: dict[str, Any]) -> None:
        self.write(
            f"stopped: {p['stop_reason']} after {p['iterations']} iteration(s); "
            f"total cost {format_cents(p['baseline_total'])} → {format_cents(p['final_total'])}"
        )
        for agent, params in p["final_parameters"].items():
            self.write(f"  {agent}: {json.dumps(params, sort_keys=True)}")
