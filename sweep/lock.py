"""One driver per output folder: an OS-level lock held for the driver's whole life.

Two sweeps writing one results folder at once would race on the same runs (both resuming a
"running" run, both compacting), so `hold_output_lock` takes an exclusive `fcntl.flock` on
``<output>/.paylab.lock`` without waiting and refuses with one line if another process holds
it. The kernel releases the lock when its holder dies, however it dies (SIGKILL, a crash),
so a dead driver never blocks the next one; the file itself stays (it holds the last
holder's pid, host and start time, for the message only).

Limits: ``flock`` locks between processes of one machine, and on NFS (Linux ≥ 2.6.12 maps it
to an NFS byte-range lock, which needs a working lock manager) between machines; some
network and FUSE file systems (older CIFS mounts, sshfs) keep it local to one client. Object
stores (``s3://``, ``gs://``) have no lock at all: a URI output is not locked, and it is up
to you to run one driver per output folder there.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from runner.errors import ConfigError

LOCK_FILE = ".paylab.lock"  # hidden: pyarrow, DuckDB and polars skip it


class OutputLock:
    """The held lock of one output folder (`release` or process exit frees it)."""

    def __init__(self, path: Path, handle: IO[str] | None) -> None:
        self.path, self._handle = path, handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold_output_lock(root: str, what: str = "paylab sweep") -> OutputLock:
    """Lock the output folder ``root`` for this process, or raise `ConfigError` at once.

    ``root`` is a local path or a URI; URIs other than ``file://`` are not locked (see the
    module docstring). Keep the returned object alive as long as you write to ``root``.
    """
    if "://" in root and not root.startswith("file://"):
        return OutputLock(Path(root), None)
    folder = Path(root.removeprefix("file://"))
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 — held until release
    except OSError as exc:
        raise ConfigError(f"cannot write the output folder: {exc.strerror or exc}", source=folder) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(
            f"{folder} is in use by {holder}; run one sweep (or compaction) per output folder at a time"
        ) from None
    except OSError as exc:  # a file system without locks: say so rather than race silently
        handle.close()
        raise ConfigError(f"cannot lock {path}: {exc.strerror or exc}") from None
    handle.seek(0)
    handle.truncate()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    handle.write(f"{what} (pid {os.getpid()} on {socket.gethostname()}, since {started})\n")
    handle.flush()
    return OutputLock(path, handle)
