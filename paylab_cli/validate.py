"""``paylab validate``: check a scenario, policy or experiment file without running it."""

from __future__ import annotations

from pathlib import Path

import click

from paylab_cli import cli
from runner.errors import ConfigError, NotSupportedError, PolicyError
from runner.policy.constraints import ScenarioConstraints
from runner.policy.validate import read_policy_file, validate_policy
from runner.scenario import load_scenario
from runner.scenario.loader import pydantic_error, read_yaml


def _constraints_from(path: Path) -> ScenarioConstraints:
    from pydantic import ValidationError

    raw = read_yaml(path)
    block = raw.get("policy_constraints")
    if block is None:
        raise ConfigError(
            "required key is missing (--constraints needs an experiment file with a policy_constraints block)",
            source=path,
            path="policy_constraints",
        )
    try:
        return ScenarioConstraints.model_validate(block)
    except ValidationError as exc:
        raise pydantic_error(exc, path, prefix="policy_constraints", data=block) from None


def file_kind(path: Path) -> str:
    """'policy', 'scenario', 'experiment' or 'sweep', from the file's content."""
    if path.suffix.lower() == ".json":
        return "policy"
    raw = read_yaml(path)
    if "agents" in raw or "simulation" in raw:
        return "scenario"
    if "scenario" in raw or "optimized_agents" in raw or "llm" in raw:
        return "experiment"
    if "experiments" in raw or "grid" in raw:
        return "sweep"
    keys = ", ".join(map(str, list(raw)[:6])) or "none"
    raise ConfigError(
        "cannot tell what this file is: a scenario has 'simulation' and 'agents', "
        "an experiment 'scenario', a sweep 'experiments' or 'grid', a policy ends "
        f"in .json; got top-level keys {keys}",
        source=path,
    )


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--constraints",
    "constraints_file",
    type=click.Path(path_type=Path),
    help="Experiment file whose policy_constraints a policy must satisfy.",
)
def validate(file: Path, constraints_file: Path | None) -> None:
    """Check FILE (scenario, policy, experiment or sweep) and report every problem."""
    kind = file_kind(file)
    if constraints_file is not None and kind != "policy":
        raise ConfigError(
            f"only applies to policy (.json) files, not to a {kind} file", path=f"--constraints {constraints_file}"
        )
    if kind == "policy":
        constraints = _constraints_from(constraints_file) if constraints_file else None
        errors = validate_policy(read_policy_file(file), constraints)
        if errors:
            raise PolicyError(errors, source=file)
        click.echo(f"{file}: valid policy")
    elif kind == "scenario":
        scenario = load_scenario(file)
        click.echo(f"{file}: valid scenario ({len(scenario.agent_ids)} agents, {scenario.config.episode_ticks} ticks)")
    elif kind == "experiment":
        _validate_experiment(file)
    elif kind == "sweep":
        _validate_sweep(file)
    else:
        raise NotSupportedError(f"validating {kind} files", source=file)


def _validate_experiment(file: Path) -> None:
    from runner.experiment.config import ExperimentConfig

    cfg = ExperimentConfig.from_yaml(file)
    for warning in cfg.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{file}: valid experiment {cfg.name} ({cfg.evaluation.mode}, model {cfg.llm.model}, "
        f"agents {', '.join(cfg.optimized_agents)}, max {cfg.convergence.max_iterations} iterations)"
    )


def _validate_sweep(file: Path) -> None:
    from sweep.expand import iter_runs
    from sweep.spec import load_sweep

    spec = load_sweep(file)
    count = sum(1 for _ in iter_runs(spec, file.parent))  # one at a time: bounded memory
    click.echo(f"{file}: valid sweep {spec.name} ({count} runs, every cell validated)")
