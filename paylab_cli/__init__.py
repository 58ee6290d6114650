"""The ``paylab`` command line.

Every command reports bad input as one line naming the file, the field and what is wrong,
and exits 2; a run that fails exits 1. No traceback reaches the user for errors paylab
raises on purpose (`runner.errors.RunnerError`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

from runner.errors import ConfigError, PolicyError, RunnerError

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1
# click >= 8.2 raises this (a UsageError) for a bare group invocation; older clicks print help.
_NO_ARGS_IS_HELP: type[click.UsageError] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paylab")
def cli() -> None:
    """paylab: LLM-optimised cash-management policies on a simulated RTGS day."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning paylab errors into one line and an exit code.

    Bad input (a `ConfigError`/`PolicyError`, or a usage error such as a missing argument or
    an unknown option) prints ``error: …`` on one line of stderr and exits 2; a run that
    fails (`RunnerError`) exits 1. Anything else is a bug and keeps its traceback.
    """
    from paylab_cli import plot_cmd, run, simulate, sweep_cmd, validate  # noqa: F401  (registers the commands)

    try:
        cli.main(args=argv, prog_name="paylab", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as exc:  # bare ``paylab``: show the help
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "paylab"
        reason = exc.format_message().rstrip(".")
        fail(f"{command}: {reason} (see '{command} --help')", exc.exit_code)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except (ConfigError, PolicyError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except RunnerError as exc:
        fail(str(exc), EXIT_RUN_FAILED)


@contextmanager
def naming_file(source: Path) -> Iterator[None]:
    """Attribute a bad-input error raised after loading (by the engine, the LLM client…) to
    ``source`` when it names no file itself, so its line still says where the input came from.
    Errors about a command-line option (``--policy …``) stay as they are."""
    try:
        yield
    except ConfigError as exc:
        if exc.source is None and not exc.path.startswith("--"):
            raise exc.with_source(source) from None
        raise
    except PolicyError as exc:
        if exc.source is None:
            raise PolicyError(exc.errors, source=source) from None
        raise


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: <message>`` as exactly one line on stderr and exit with ``code``."""
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def one_line(text: str) -> str:
    """``text`` with its line breaks folded into spaces."""
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()
