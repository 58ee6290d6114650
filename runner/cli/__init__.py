"""The ``paylab`` command line.

Every command reports bad input as one line naming the file, the field and what is wrong,
and exits 2; a run that fails exits 1. No traceback reaches the user for errors paylab
raises on purpose (`runner.errors.RunnerError`).
"""

from __future__ import annotations

import sys

import click

from runner.errors import ConfigError, PolicyError, RunnerError

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paylab")
def cli() -> None:
    """paylab: LLM-optimised cash-management policies on a simulated RTGS day."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning paylab errors into one line and an exit code."""
    from runner.cli import simulate, validate  # noqa: F401  (registers the commands)

    try:
        cli.main(args=argv, prog_name="paylab", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ConfigError, PolicyError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except RunnerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_RUN_FAILED)
