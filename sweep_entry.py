"""Run a sweep on the Ray cluster this script runs on: the entry script for ``ray submit``.

``ray submit cluster.yaml sweep_entry.py -- SWEEP.yaml [OVERRIDES…] [OPTIONS…]`` (or
``cluster-local.yaml`` for your own machines) copies this file to ``~/sweep_entry.py`` on the
head node and runs ``python ~/sweep_entry.py <the arguments after -->`` there, from the home
folder. The script moves to the project copy
that both cluster files put at ``~/paylab`` (so ``experiments/…`` paths and a relative
``output`` mean the same as on your machine) and runs ``paylab sweep <arguments> --address
auto``, which joins the running cluster instead of starting a Ray of its own.

Importing this module does nothing; only running it does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT = Path("~/paylab")  # where the cluster files' file_mounts copy the repository


def sweep_argv(args: list[str]) -> list[str]:
    """The ``paylab`` arguments for ``args``: ``sweep``, ``args``, then ``--address auto``
    unless ``args`` chose an address already."""
    chosen = any(a == "--address" or a.startswith("--address=") for a in args)
    return ["sweep", *args] if chosen else ["sweep", *args, "--address", "auto"]


def main(args: list[str] | None = None) -> None:
    """Run ``paylab sweep`` with ``args`` (default: the command line) on this cluster."""
    project = PROJECT.expanduser()
    if Path.cwd() == Path.home() and project.is_dir():  # how `ray submit` starts us
        os.chdir(project)
    from paylab_cli import main as paylab

    paylab(sweep_argv(sys.argv[1:] if args is None else args))


if __name__ == "__main__":
    main()
