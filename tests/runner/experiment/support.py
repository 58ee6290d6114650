"""Shared helpers for the experiment-layer tests: a scripted proposer, configs, event queries.

`ScriptedProposer` implements `runner.proposals.PolicyProposer` without any LLM: a script
(a function of the `ProposalContext`) decides what it proposes, and every context it is
given is recorded so tests can check what each agent was shown.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from runner.experiment.config import ExperimentConfig
from runner.experiment.events import Event
from runner.experiment.result import ExperimentResult
from runner.experiment.runner import GenericExperimentRunner
from runner.proposals import PolicyGenerationResult, ProposalContext
from tests.conftest import EXPERIMENTS, ROOT
from tests.helpers import RecordingSink as RecordingSink  # re-exported for the experiment tests
from tests.helpers import fraction_policy

CASTRO = EXPERIMENTS / "castro"
EXP1 = CASTRO / "exp1.yaml"
EXP2 = CASTRO / "exp2.yaml"
EXP3 = CASTRO / "exp3.yaml"
MULTIBANK = EXPERIMENTS / "scenarios" / "multibank.yaml"
PAYLAB = Path(sys.executable).parent / "paylab"

# exp2 made small: bootstrap as shipped, but few samples and iterations (well under a second).
SMALL_EXP2 = (
    "evaluation.num_samples=10",
    "evaluation.reference_samples=20",
    "evaluation.context_days=2",
    "convergence.max_iterations=2",
)

Script = Callable[[ProposalContext], "dict[str, Any] | PolicyGenerationResult | None"]


def fraction_of(doc: dict[str, Any]) -> float:
    return float(doc["parameters"]["initial_liquidity_fraction"])


class ScriptedProposer:
    """A fake `PolicyProposer`: proposes what ``script(context)`` returns, records contexts.

    The script may return a policy document, None (no valid proposal) or a complete
    `PolicyGenerationResult`.
    """

    name = "test/scripted"

    def __init__(self, script: Script, on_propose: Callable[[ProposalContext], None] | None = None) -> None:
        self.script = script
        self.on_propose = on_propose
        self.contexts: list[ProposalContext] = []

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult:
        self.contexts.append(context)
        if self.on_propose is not None:
            self.on_propose(context)
        out = self.script(context)
        if isinstance(out, PolicyGenerationResult):
            return out
        if out is None:
            return PolicyGenerationResult(None, 1, errors=("scripted: nothing to propose",))
        return PolicyGenerationResult(copy.deepcopy(out), 1)

    def contexts_of(self, agent: str) -> list[ProposalContext]:
        return [c for c in self.contexts if c.agent_id == agent]

    @classmethod
    def fractions(cls, plan: dict[str, Sequence[float | None]]) -> ScriptedProposer:
        """Per agent, the fraction proposed at iterations 1, 2, … (None: no proposal; past
        the end of its list an agent re-proposes its current policy)."""

        def script(ctx: ProposalContext) -> dict[str, Any] | None:
            steps = plan.get(ctx.agent_id, ())
            if ctx.iteration - 1 < len(steps):
                f = steps[ctx.iteration - 1]
                return None if f is None else fraction_policy(f)
            return copy.deepcopy(ctx.current_policy)

        return cls(script)


def config(path: Path = EXP1, *overrides: str) -> ExperimentConfig:
    return ExperimentConfig.from_yaml(path, overrides=list(overrides))


def run(cfg: ExperimentConfig, proposer: Any = None, **kwargs: Any) -> tuple[GenericExperimentRunner, ExperimentResult]:
    runner = GenericExperimentRunner(cfg, proposer=proposer, **kwargs)
    return runner, runner.run()


def of_type(events: Iterable[Event], kind: str, agent: str | None = None) -> list[Event]:
    return [e for e in events if e.type == kind and (agent is None or getattr(e.payload, "agent", None) == agent)]


def paylab(*args: str | Path, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``paylab`` console script."""
    return subprocess.run(
        [str(PAYLAB), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def paylab_in_process(*args: str | Path, cwd: Path = ROOT) -> tuple[int, str, str]:
    """``paylab`` run in this process (no interpreter start-up): (exit code, stdout, stderr).

    For the many small CLI checks; the end-to-end tests use the real console script.
    """
    import contextlib
    import io
    import os

    from paylab_cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(before)
    return code, out.getvalue(), err.getvalue()
