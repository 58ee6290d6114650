"""Validation hooks for file kinds owned by later layers (experiments, sweeps)."""

from __future__ import annotations

from pathlib import Path

import click

from runner.errors import NotSupportedError


def validate_other(kind: str, file: Path) -> None:
    if kind == "experiment":
        from runner.experiment.config import ExperimentConfig

        cfg = ExperimentConfig.from_yaml(file)
        for warning in cfg.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"{file}: valid experiment {cfg.name} ({cfg.evaluation.mode}, model {cfg.llm.model}, "
                   f"agents {', '.join(cfg.optimized_agents)}, max {cfg.convergence.max_iterations} iterations)")
        return
    if kind == "sweep":
        from sweep.spec import check_sweep_file

        spec, runs = check_sweep_file(file)
        click.echo(f"{file}: valid sweep {spec.name} ({len(runs)} runs, every cell validated)")
        return
    raise NotSupportedError(f"validating {kind} files", source=file)
