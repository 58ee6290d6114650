"""Helpers for the store tests: the events and result of one real tiny run (exp1, 3 iterations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.experiment.config import ExperimentConfig
from runner.experiment.events import Event
from runner.experiment.result import ExperimentResult
from runner.experiment.runner import GenericExperimentRunner
from tests.conftest import EXPERIMENTS
from tests.helpers import RecordingSink

RUN_ID = "castro_exp1-0123456789abcdef-coordinate"


@dataclass(frozen=True)
class Cell:
    """Stands in for `sweep.expand.RunSpec` (the attributes `sweep.tables.RunInfo` names)."""

    run_id: str = RUN_ID
    cell_key: str = "0123456789abcdef" * 4
    replicate: int = 0
    experiment: str = "castro_exp1"
    scenario: str = "exp1"
    model: str = "builtin/coordinate"
    baseline: bool = False
    params: dict[str, Any] = field(default_factory=dict)


def exp1_config(iterations: int = 3) -> ExperimentConfig:
    return ExperimentConfig.from_yaml(
        EXPERIMENTS / "castro" / "exp1.yaml", [f"convergence.max_iterations={iterations}"]
    )


def run_exp1() -> tuple[list[Event], ExperimentResult]:
    """Run castro exp1 for 3 iterations (about 0.1 s) and return its events and result."""
    collector = RecordingSink()
    result = GenericExperimentRunner(exp1_config(), run_id=RUN_ID, sinks=[collector]).run()
    return collector.events, result
