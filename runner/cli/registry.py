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
        from sweep.expand import iter_runs
        from sweep.spec import load_sweep

        spec = load_sweep(file)
        count = sum(1 for _ in iter_runs(spec, file.parent))  # one at a time: bounded memory
        click.echo(f"{file}: valid sweep {spec.name} ({count} runs, every cell validated)")
        return
    raise NotSupportedError(f"validating {kind} files", source=file)
