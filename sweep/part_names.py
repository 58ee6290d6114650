"""What a result store's files are called: sweeps, run ids, part names and `FileRef`.

Sweeps, run ids and parts become folder and file names, so one rule (`check_names`) keeps them
safe in paths, and `file_name` / `parse_file_name` map a (run, part) to its file name and back.
A part name is the unit of replacement in a store (`sweep.store_base.PartStore`); an iteration's
rows are part `iteration_part(n)`, the rows written at a run's end part `FINAL_PART`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FINAL_PART = "final"
# Sweeps, run ids and parts are folder and file names: no '/', no '~' (it separates run id and
# part in a part file's name), no leading '.' or '_' (pyarrow and temp files treat those as hidden).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
PART_SEPARATOR = "~"

PartIndex = list[tuple[str, int]]  # a compacted file's (part name, row count), in row order


def iteration_part(iteration: int) -> str:
    """The part name of one iteration's rows (``it-00003``; zero-padded so names sort)."""
    return f"it-{iteration:05d}"


def check_names(sweep: str, run_id: str | None = None, part: str | None = None) -> None:
    """Raise `ValueError` unless the names are safe in paths and parse back unambiguously."""
    for what, value in (("sweep", sweep), ("run_id", run_id), ("part", part)):
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{what} must be letters, digits, '_', '.' or '-' (not first), got {value!r}")


@dataclass(frozen=True)
class FileRef:
    """One stored file of a table: a part (``part`` set) or the run's compacted file.

    ``batch`` names the batch file that holds a compacted run's rows among other runs'
    (`sweep.batch_files`); None for a file of the run's own.
    """

    sweep: str
    run_id: str
    part: str | None
    batch: str | None = None


def file_name(ref: FileRef) -> str:
    """``<run_id>.parquet`` (compacted) or ``<run_id>~<part>.parquet`` (a part)."""
    stem = f"{ref.run_id}{PART_SEPARATOR}{ref.part}" if ref.part else ref.run_id
    return f"{stem}.parquet"


def parse_file_name(sweep: str, name: str) -> FileRef | None:
    """The `FileRef` a file name stands for; None for anything else (temp files included)."""
    if not name.endswith(".parquet"):
        return None
    run_id, _, part = name[: -len(".parquet")].partition(PART_SEPARATOR)
    if not _NAME.match(run_id) or (part and not _NAME.match(part)):
        return None
    return FileRef(sweep, run_id, part or None)
