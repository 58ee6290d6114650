"""``paylab simulate``: one payment day of a scenario, with its costs (and events)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from paylab_cli import cli, naming_file
from runner.engine.batch import evaluate_batch
from runner.engine.rates import COMPONENTS
from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import Schedule, generate_schedule
from runner.engine.setup import EngineSetup, build_setup
from runner.errors import ConfigError
from runner.policy.tree import Policy
from runner.policy.validate import parse_valid_policy, read_policy_file
from runner.scenario import Scenario, load_scenario


def _split(item: str, option: str, shape: str) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError(f"must look like {shape}", path=f"{option} {item}")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def _unknown_agent(agent: str, scenario: Scenario) -> str:
    where = f"of {scenario.source}" if scenario.source else "of the scenario"
    return f"'{agent}' is not an agent {where} (agents: {', '.join(scenario.agent_ids)})"


def policies_from_options(
    scenario: Scenario, policy_opts: tuple[str, ...], param_opts: tuple[str, ...]
) -> dict[str, Policy]:
    """Agent policies after ``--policy AGENT=FILE`` and ``--param AGENT.NAME=VALUE``."""
    docs: dict[str, dict[str, Any]] = {}
    ids = scenario.agent_ids
    for item in policy_opts:
        agent, file = _split(item, "--policy", "AGENT=FILE.json")
        if agent not in ids:
            raise ConfigError(_unknown_agent(agent, scenario), path=f"--policy {item}")
        doc = read_policy_file(Path(file))
        parse_valid_policy(doc, source=file)  # a non-object document fails here, with its path
        docs[agent] = doc
    for item in param_opts:
        key, raw = _split(item, "--param", "AGENT.NAME=VALUE")
        agent, _, name = key.partition(".")
        if not name:
            raise ConfigError("must look like AGENT.NAME=VALUE", path=f"--param {item}")
        if agent not in ids:
            raise ConfigError(_unknown_agent(agent, scenario), path=f"--param {item}")
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(f"value must be a finite number, got {raw!r}", path=f"--param {item}")
        doc = docs.get(agent) or _as_doc(scenario.policies[agent])
        docs[agent] = {**doc, "parameters": {**doc.get("parameters", {}), name: value}}
    return {agent: parse_valid_policy(doc, source=f"policy of {agent}") for agent, doc in docs.items()}


def _as_doc(policy: Policy) -> dict[str, Any]:
    from runner.policy.serialize import policy_to_doc

    return policy_to_doc(policy)


def _print_report(report: dict[str, Any], scenario: Scenario, seed: int) -> None:
    total = report["total_cost"]
    click.echo(f"scenario {scenario.source}  seed {seed}  total cost {total:,} cents")
    header = f"{'agent':<14}{'total':>12}" + "".join(f"{c[:12]:>14}" for c in COMPONENTS)
    click.echo(header + f"{'arrived':>9}{'settled':>9}{'rate':>8}")
    for agent, row in report["agents"].items():
        costs = "".join(f"{row['costs'][c]:>14,}" for c in COMPONENTS)
        click.echo(
            f"{agent:<14}{row['total_cost']:>12,}{costs}{row['arrived']:>9}"
            f"{row['settled']:>9}{row['settlement_rate']:>8.1%}"
        )
    if len(report["days"]) > 1:
        for day in report["days"]:
            click.echo(f"  day {day['day']}: total {day['total_cost']:,} cents")


def format_event(event: dict[str, Any]) -> str:
    rest = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("tick", "type"))
    return f"t={event['tick']:<4} {event['type']:<18} {rest}"


@cli.command()
@click.argument("scenario_file", type=click.Path(path_type=Path))
@click.option(
    "--policy", "policy_opts", multiple=True, metavar="AGENT=FILE.json", help="Run AGENT with this policy file."
)
@click.option(
    "--param",
    "param_opts",
    multiple=True,
    metavar="AGENT.NAME=VALUE",
    help="Set a parameter of AGENT's policy (e.g. BANK_A.initial_liquidity_fraction=0.2).",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="dotted.key=VALUE", help="Override a scenario key before validation."
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Arrival seed (default: simulation.rng_seed).")
@click.option("--events", is_flag=True, help="Also print the event trace.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    default=None,
    metavar="DAY.png",
    help="Also draw balances, queues and cumulative cost per bank over the ticks (.png, .svg, .pdf).",
)
def simulate(
    scenario_file: Path,
    policy_opts: tuple[str, ...],
    param_opts: tuple[str, ...],
    overrides: tuple[str, ...],
    seed: int | None,
    events: bool,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Simulate SCENARIO_FILE for its whole episode and report costs in cents."""
    if plot is not None:
        _check_plot_path(plot)
    scenario = load_scenario(scenario_file, overrides)
    for warning in scenario.warnings:
        click.echo(f"warning: {warning}", err=True)
    with naming_file(scenario_file):
        setup = build_setup(scenario, policies_from_options(scenario, policy_opts, param_opts), engine="reference")
        seed = scenario.config.simulation.rng_seed if seed is None else seed
        schedule = generate_schedule(scenario.config, seed, setup.horizon)
        trace: list[dict[str, Any]] = []
        if events or setup.batch_missing:  # the reference engine runs every feature
            table, trace = ReferenceEngine(setup).run(schedule, trace=events)
        else:
            table = evaluate_batch(setup, [schedule])
    report = table.report(0)
    if plot is not None:
        _draw_day(setup, schedule, plot, f"{scenario.source}  seed {seed}")
    if as_json:
        click.echo(json.dumps({**report, "events": trace} if events else report, indent=2))
        return
    for event in trace:
        click.echo(format_event(event))
    _print_report(report, scenario, seed)


def _check_plot_path(plot: Path) -> None:
    from sweep.plots.style import check_format

    check_format(plot.suffix.lstrip(".").lower(), f"--plot {plot}")


def _draw_day(setup: EngineSetup, schedule: Schedule, plot: Path, title: str) -> None:
    from sweep.plots.figures import save_day_chart

    for problem in save_day_chart(setup, schedule, plot, title):
        click.echo(f"warning: the day chart does not reconcile with the engine: {problem}", err=True)
    click.echo(f"day chart: {plot}", err=True)
