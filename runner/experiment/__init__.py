"""One experiment: config, bootstrap evaluation, the optimisation loop and its runner."""

from runner.experiment.config import ExperimentConfig
from runner.experiment.result import ExperimentResult, ExperimentState
from runner.experiment.runner import ExperimentRunnerProtocol, GenericExperimentRunner

__all__ = [
    "ExperimentConfig",
    "ExperimentResult",
    "ExperimentRunnerProtocol",
    "ExperimentState",
    "GenericExperimentRunner",
]
