"""``paylab sweep`` and ``paylab analyze``: many experiment runs, one Parquet dataset."""

from __future__ import annotations

import os
from pathlib import Path

import click

from paylab_cli import cli
from runner.experiment.status import RunStatus


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option(
    "--out",
    "out_dir",
    default=None,
    help="Results folder or URI (as the output= override; default: the sweep file's output).",
)
@click.option(
    "--dry-run", is_flag=True, help="Summarise the cells (all of them up to a screenful) without running anything."
)
@click.option(
    "--executor",
    type=click.Choice(["ray", "local"]),
    default="ray",
    show_default=True,
    help="ray: a pool of reused run actors, tasks per sample chunk; local: in-process, one run at a time.",
)
@click.option("--address", default=None, help="Join an existing Ray cluster (auto, ray://…; default $RAY_ADDRESS).")
@click.option("--num-cpus", type=int, default=None, help="CPUs for a Ray started here (default: all).")
@click.option("--retry-failed", is_flag=True, help="Also re-run cells that failed before.")
@click.option(
    "--chunk-size",
    type=int,
    default=500,
    show_default=True,
    help="Samples per Ray evaluation task (smaller sample sets are evaluated in the run actor).",
)
@click.option("--quiet", is_flag=True, help="No progress line.")
def sweep(
    sweep_file: Path,
    overrides: tuple[str, ...],
    out_dir: str | None,
    dry_run: bool,
    executor: str,
    address: str | None,
    num_cpus: int | None,
    retry_failed: bool,
    chunk_size: int,
    quiet: bool,
) -> None:
    """Run every cell of SWEEP_FILE; OVERRIDES are Hydra-style (llm.model=a,b master_seed=range(3))."""
    from runner.llm.config import missing_key_error
    from sweep.analysis import analysis_table
    from sweep.driver import plan, run_sweep
    from sweep.dry_run import describe
    from sweep.expand import expand, iter_runs
    from sweep.lock import hold_output_lock
    from sweep.progress import SweepProgress
    from sweep.spec import load_sweep
    from sweep.store import open_store

    spec = load_sweep(sweep_file, list(overrides), out_dir)
    if dry_run:  # one cell at a time: a dry run of 100 000 cells holds none of them
        click.echo(describe(spec, iter_runs(spec, sweep_file.parent)))
        return
    runs = expand(spec, sweep_file.parent)
    root = spec.output_location()  # absolute: Ray workers resolve nothing against their cwd
    store = open_store(root)
    for cell in plan(runs, store, retry_failed, repair=False).to_run:  # checked before anything is written
        if (missing := missing_key_error(cell.config.llm)) is not None:  # every run of it would fail
            raise missing.with_source(sweep_file)
    lock = hold_output_lock(root)  # noqa: F841 — held (by this process) until it exits
    the_plan = plan(runs, store, retry_failed)  # under the lock: finds and clears damage first
    for note in the_plan.repairs:
        click.echo(f"warning: {note}", err=True)
    click.echo(
        f"sweep {spec.name}: {len(runs)} runs ({len(the_plan.done)} done, {len(the_plan.failed)} failed "
        f"before, {len(the_plan.to_run)} to run) → {root}",
        err=True,
    )
    progress = None if quiet else SweepProgress(store, spec.name, [r.run_id for r in runs])
    outcomes = run_sweep(
        spec,
        runs,
        store,
        root,
        executor=executor,
        address=address or os.environ.get("RAY_ADDRESS"),
        retry_failed=retry_failed,
        num_cpus=num_cpus,
        chunk_size=chunk_size,
        on_update=progress.update if progress else None,
    )
    if progress:
        progress.close()
    failed = [o for o in outcomes if o.status == RunStatus.FAILED]
    for outcome in failed:
        click.echo(f"failed: {outcome.run_id}: {outcome.error}", err=True)
    click.echo(analysis_table(store, spec.name))
    if failed:
        raise SystemExit(1)


@cli.command()
@click.argument("out", type=str)
@click.option("--sweep", "sweep_name", default=None, help="Only this sweep (default: all in OUT).")
@click.option("--by", default="scenario,model", show_default=True, help="Grouping columns, comma separated.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def analyze(out: str, sweep_name: str | None, by: str, fmt: str) -> None:
    """Compare runs across a sweep: cost vs baseline, settlement, iterations, LLM use."""
    from sweep.analysis import analyze_results
    from sweep.store import open_store

    click.echo(analyze_results(open_store(out), sweep_name, [c.strip() for c in by.split(",") if c.strip()], fmt))


@cli.command()
@click.argument("out", type=str)
@click.option("--sweep", "sweep_names", multiple=True, help="Only this sweep (repeatable; default: all in OUT).")
def compact(out: str, sweep_names: tuple[str, ...]) -> None:
    """Merge the finished runs' files of OUT into a few batch files per table (atomically)."""
    from sweep.compact import compact_output
    from sweep.lock import hold_output_lock

    with hold_output_lock(out, "paylab compact"):
        reports = compact_output(out, list(sweep_names) or None)
    for name, report in reports.items():
        click.echo(
            f"{name}: {report.files_before} → {report.files_after} table files, {report.status_files_before} → "
            f"{report.status_files_after} status files ({report.runs_moved} run slices moved)"
        )
    if not reports:
        click.echo(f"no sweep found in {out}")
