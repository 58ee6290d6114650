"""``paylab run``, ``paylab list`` and ``paylab replay``: one experiment and its stored runs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from paylab_cli import cli, naming_file
from runner.errors import ConfigError, RunnerError
from runner.experiment.config import ExperimentConfig
from runner.experiment.display import VerboseConfig, VerboseLogger
from runner.experiment.events import EventSink, read_events
from runner.experiment.runner import EVENTS_FILE, RESULT_FILE, GenericExperimentRunner
from runner.money import format_cents as dollars
from runner.output_dir import check_writable_folder
from runner.proposals import LLMInteraction

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


@cli.command()
@click.argument("experiment_file", type=click.Path(path_type=Path))
@click.option("--model", help="Override llm.model (e.g. builtin/coordinate, openai/gpt-4.1).")
@click.option("--api-base", help="Override llm.api_base (an OpenAI-compatible server).")
@click.option("--seed", type=int, help="Override master_seed.")
@click.option(
    "--replicate", type=click.IntRange(min=0), default=0, show_default=True, help="Replicate index (enters every seed)."
)
@click.option("--max-iterations", type=int, help="Override convergence.max_iterations.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Results folder (default: output.directory).")
@click.option("--set", "overrides", multiple=True, metavar="dotted.key=VALUE", help="Override any experiment key.")
@click.option("--json", "as_json", is_flag=True, help="Print the ExperimentResult as JSON (instead of the live view).")
@click.option("-v", "--verbose", count=True, help="-v evaluations, -vv LLM attempts, -vvv per-sample deltas.")
def run(
    experiment_file: Path,
    model: str | None,
    api_base: str | None,
    seed: int | None,
    replicate: int,
    max_iterations: int | None,
    out_dir: Path | None,
    overrides: tuple[str, ...],
    as_json: bool,
    verbose: int,
) -> None:
    """Optimise the agents of EXPERIMENT_FILE and report the result."""
    config = ExperimentConfig.from_yaml(experiment_file, overrides)
    config = config.with_overrides(model=model, seed=seed, max_iterations=max_iterations, api_base=api_base)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    out = out_dir or Path(config.output.directory)
    if out_dir is not None:
        check_writable_folder(out, path="--out")
    else:
        check_writable_folder(out, source=experiment_file, path="output.directory")
    sinks: list[EventSink] = [] if as_json else [VerboseLogger(VerboseConfig.from_level(verbose))]
    with naming_file(experiment_file):
        runner = GenericExperimentRunner(config, replicate=replicate, out_dir=out, sinks=sinks)
        try:
            result = runner.run()
        except KeyboardInterrupt:  # Ctrl-C: no result; the events so far are a complete prefix
            state = runner.get_current_state()
            click.echo(
                f"interrupted at iteration {state.iteration}: no result; the events so far are in "
                f"{out / runner.run_id / EVENTS_FILE}",
                err=True,
            )
            raise SystemExit(EXIT_INTERRUPTED) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        click.echo(f"events and result in {out / runner.run_id}")


def find_run(run_id: str, out_dir: Path) -> Path:
    path = out_dir / run_id
    if not (path / EVENTS_FILE).is_file():
        raise ConfigError(f"no run '{run_id}' under {out_dir} (see `paylab list {out_dir}`)")
    return path


@cli.command()
@click.argument("run_id")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--audit", is_flag=True, help="Print every LLM attempt in full (prompts, responses, errors).")
@click.option("-v", "--verbose", count=True, help="Same levels as `paylab run`.")
def replay(run_id: str, out_dir: Path, audit: bool, verbose: int) -> None:
    """Reprint a stored run exactly as it was shown live."""
    events = read_events(find_run(run_id, out_dir) / EVENTS_FILE)
    logger = VerboseLogger(VerboseConfig.from_level(verbose))
    for event in events:
        logger.handle(event)
        if audit and isinstance(event.payload, LLMInteraction):
            _print_audit(event.payload)


def _print_audit(p: LLMInteraction) -> None:
    click.echo(
        f"── LLM attempt {p.attempt} for {p.agent_id} (iteration {p.iteration}, {p.model}) "
        f"tokens {p.prompt_tokens}+{p.completion_tokens} cost {p.cost_usd} "
        f"latency {p.latency_seconds}s"
    )
    for message in p.messages:
        click.echo(f"[{message['role']}]\n{message['content']}")
    click.echo(f"[response]\n{p.raw_response}")
    if p.reasoning:
        click.echo(f"[reasoning]\n{p.reasoning}")
    status = p.error or "; ".join(p.validation_errors) or "valid policy"
    click.echo(f"[outcome] {status}")


@cli.command(name="list")
@click.argument("directory", type=click.Path(path_type=Path), default=Path("results"))
def list_runs(directory: Path) -> None:
    """List the runs stored under DIRECTORY (and experiment files found there)."""
    if not directory.is_dir():
        raise ConfigError("not a directory", source=directory)
    rows = 0
    for run_dir in sorted(p for p in directory.iterdir() if (p / EVENTS_FILE).is_file()):
        result_file = run_dir / RESULT_FILE
        if result_file.is_file():
            r = json.loads(result_file.read_text())
            click.echo(
                f"{r['run_id']:<48} {r['model']:<22} {r['stop_reason']:<15} it={r['iterations']:<3} "
                f"cost {dollars(r['baseline_total'])} → {dollars(r['final_total'])}"
            )
        else:
            click.echo(f"{run_dir.name:<48} (unfinished)")
        rows += 1
    for path in sorted(directory.glob("*.y*ml")):
        try:
            cfg = ExperimentConfig.from_yaml(path)
        except RunnerError as exc:
            click.echo(f"{path.name:<48} invalid: {exc}")
            continue
        click.echo(
            f"{path.name:<48} experiment {cfg.name} ({cfg.evaluation.mode}, {cfg.llm.model}, "
            f"agents {', '.join(cfg.optimized_agents)})"
        )
        rows += 1
    if rows == 0:
        click.echo(f"nothing found in {directory}")
