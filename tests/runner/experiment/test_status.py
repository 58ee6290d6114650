"""`RunStatus` and `StopReason`: what the runner and the sweep write, and how it is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from runner.experiment.status import STORED_STATUSES, RunStatus, StopReason
from sweep.limits import GatedProposer, LocalLimiter
from sweep.run import RunOutcome
from sweep.tables import RUN_STATUSES
from tests.runner.experiment.support import EXP1, EXP2, SMALL_EXP2, ScriptedProposer, config, run


def test_stored_statuses_are_plain_strings() -> None:
    assert RUN_STATUSES == ("pending", "running", "done", "failed")
    assert all(type(s) is str for s in RUN_STATUSES)
    assert RunStatus.SKIPPED not in STORED_STATUSES  # an outcome, never a record


@pytest.mark.parametrize("member", [*RunStatus, *StopReason])
def test_members_are_written_as_their_values(member: RunStatus | StopReason) -> None:
    assert json.dumps({"s": member}) == json.dumps({"s": member.value})
    assert pa.array([member], pa.string()).to_pylist() == [member.value]
    assert f"{member}" == member.value and member == member.value


def test_the_sweep_budget_stop_is_a_stop_reason() -> None:
    gated = GatedProposer(ScriptedProposer(lambda _: None), LocalLimiter(), budget_usd=0.0)
    assert gated.stop_check() is StopReason.BUDGET
    assert GatedProposer(ScriptedProposer(lambda _: None), LocalLimiter(), budget_usd=None).stop_check() is None


def test_a_run_outcome_rebuilt_from_its_dict_has_a_run_status() -> None:
    outcome = RunOutcome(**RunOutcome("r", RunStatus.FAILED, error="x").to_dict() | {"status": "failed"})
    assert outcome.status is RunStatus.FAILED


@pytest.mark.parametrize(
    ("path", "overrides", "reason"),
    [
        (EXP1, ("convergence.max_iterations=2",), StopReason.MAX_ITERATIONS),
        (EXP2, (*SMALL_EXP2, "convergence.max_iterations=6", "convergence.stability_window=2"), StopReason.CONVERGED),
    ],
)
def test_runs_stop_with_a_stop_reason(path: Path, overrides: tuple[str, ...], reason: StopReason) -> None:
    _, result = run(config(path, *overrides), ScriptedProposer(lambda ctx: ctx.current_policy))
    assert result.stop_reason == reason
    assert StopReason(result.stop_reason) is reason
