"""Check, before anything runs, that a results folder can be created or written.

Shared by ``paylab run --out`` and a sweep's ``output``, so both refuse a file, an unwritable
folder or a path under a file with the same one line (and exit 2) instead of failing later.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from runner.errors import ConfigError


def check_writable_folder(target: Path, *, source: str | Path | None = None, path: str = "") -> None:
    """Fail unless ``target`` is a folder that can be written, or can be created; leaves nothing.

    The nearest existing folder on the way is probed by creating and removing a temporary
    folder (``os.access`` says yes to root even on ``/proc``).

    Raises:
        ConfigError: naming ``source`` and ``path`` (the option or key the folder came from).
    """
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == target else f", so the folder '{target}' cannot be created"
        raise ConfigError(f"'{existing}' is not a folder{where}", source=source, path=path)
    try:
        probe = tempfile.mkdtemp(prefix=".paylab-probe-", dir=existing)
    except OSError as exc:
        raise ConfigError(
            f"cannot create folders in '{existing}' ({exc.strerror or exc}), so '{target}' is not writable",
            source=source,
            path=path,
        ) from None
    os.rmdir(probe)
