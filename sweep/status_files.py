"""Run status files of a `sweep.store.ParquetStore`, and status batches.

A run's status lives in ``_status/sweep=<sweep>/<run_id>.json`` while it runs (its heartbeat
rewrites it). Once it is finished (done or failed), `sweep.compact` folds it with many others
into one ``~batch-<generation>-<tag>.json`` in the same folder, a JSON object ``{run_id:
status text}``, so a sweep of 10 000 runs keeps a few dozen status files, not 10 000. The
rules mirror the table batches' (`sweep.batch_files`):

* **Which copy counts.** A run's own file wins over any batch (a retried run writes one);
  among batches, the newest generation that holds the run wins.
* **Atomic moves.** A batch is written whole (temp file + rename) before the own files and
  older batches it replaces are deleted, and an own file is deleted only if it still holds
  the text the batch copied. A crash in between leaves copies with the same text, which no
  reader can tell apart; the next compaction deletes them first.
* A batch file never changes once written (each gets a fresh name): what a process read of
  one serves it until the batch is deleted. A run actor reads each batch once per sweep,
  not once per run.
* A batch that does not parse is reported by `damaged_status_batches` and removed by
  `sweep.integrity.repair_sweep`: its runs count as pending and resume from their rows.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from sweep.batch_files import BATCH_PREFIX, new_batch_name
from sweep.store_base import StatusRecord

STATUS_SUFFIX = ".json"


def status_batch_generation(name: str) -> int | None:
    """The generation of a status batch's file name; None if ``name`` is not one's."""
    if not (name.startswith(BATCH_PREFIX) and name.endswith(STATUS_SUFFIX)):
        return None
    gen = name[len(BATCH_PREFIX) :].split("-", 1)[0]
    return int(gen) if gen.isdigit() else None


def _own_run_id(name: str) -> str | None:
    """The run id of an own status file's name; None for batches, temp and foreign files."""
    if not name.endswith(STATUS_SUFFIX) or name.startswith((".", BATCH_PREFIX)):
        return None
    return name[: -len(STATUS_SUFFIX)]


class StatusFiles:
    """The status primitives of `sweep.store.ParquetStore` (a mixin: it needs ``_fs``,
    ``_base``, ``_atomic`` and ``_files_in``)."""

    _fs: Any
    _base: str
    _status_batch_cache: dict[str, dict[str, str]]

    def _atomic(self, folder: str, name: str, write: Callable[[str], None]) -> None: ...
    def _files_in(self, folder: str) -> list[Any]: ...  # type: ignore[empty-body]

    def _status_dir(self, sweep: str) -> str:
        return f"{self._base}/_status/sweep={sweep}"

    # ------------------------------------------------------------------ own files
    def _put_status(self, sweep: str, run_id: str, text: str) -> None:
        self._write_text(self._status_dir(sweep), f"{run_id}{STATUS_SUFFIX}", text)

    def _own_status_text(self, sweep: str, run_id: str) -> str | None:
        return self._read_text(f"{self._status_dir(sweep)}/{run_id}{STATUS_SUFFIX}")

    def _delete_status_file(self, sweep: str, run_id: str) -> None:
        """Delete ``run_id``'s own status file (a batch's copy stays)."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(f"{self._status_dir(sweep)}/{run_id}{STATUS_SUFFIX}")

    def own_status_texts(self, sweep: str, names: Iterable[str] | None = None) -> dict[str, str]:
        """``{run_id: text}`` of the runs' own status files (``names``: the folder's listing)."""
        folder = self._status_dir(sweep)
        if names is None:
            names = [i.base_name for i in self._files_in(folder)]
        out = {}
        for name in names:
            run_id = _own_run_id(name)
            if run_id is not None and (text := self._read_text(f"{folder}/{name}")) is not None:
                out[run_id] = text
        return out

    # ------------------------------------------------------------------ the store's view
    def _status_texts(self, sweep: str) -> dict[str, str]:
        names = [i.base_name for i in self._files_in(self._status_dir(sweep))]
        out: dict[str, str] = {}
        for batch in self.status_batches(sweep, names):  # oldest first: the newest wins
            out.update(self.status_batch(sweep, batch))
        out.update(self.own_status_texts(sweep, names))  # own files win over any batch
        return out

    def _status_text(self, sweep: str, run_id: str) -> str | None:
        text = self._own_status_text(sweep, run_id)
        if text is not None:
            return text
        for batch in reversed(self.status_batches(sweep)):
            found = self.status_batch(sweep, batch).get(run_id)
            if found is not None:
                return found
        return None

    def _remove_status(self, sweep: str, run_id: str) -> None:
        """No status for ``run_id`` any more: its own file, and its copies in batches (each
        batch holding one is rewritten without it as a new batch, then deleted)."""
        self._delete_status_file(sweep, run_id)
        batches = self.status_batches(sweep)
        for i, name in enumerate(batches):
            held = self.status_batch(sweep, name)
            if run_id not in held:
                continue
            newer: set[str] = set()
            for later in batches[i + 1 :]:
                newer.update(self.status_batch(sweep, later))
            # only the runs this batch still serves: a stale copy must not come back as newest
            keep = {r: t for r, t in held.items() if r != run_id and r not in newer}
            if keep:
                top = max(status_batch_generation(n) or 0 for n in self.status_batches(sweep))
                self.write_status_batch(sweep, top + 1, keep)
            self.delete_status_batch(sweep, name)

    # ------------------------------------------------------------------ batches
    def status_batches(self, sweep: str, names: Iterable[str] | None = None) -> list[str]:
        """The status batches of ``sweep`` (``names``: the folder's listing), oldest first."""
        folder = self._status_dir(sweep)
        if names is None:
            names = [i.base_name for i in self._files_in(folder)]
        found = sorted((status_batch_generation(n), n) for n in names if status_batch_generation(n) is not None)
        listed = {f"{folder}/{n}" for _, n in found}
        for path in [p for p in self._status_batch_cache if p.rsplit("/", 1)[0] == folder and p not in listed]:
            del self._status_batch_cache[path]  # deleted by another process since
        return [n for _, n in found]

    def status_batch(self, sweep: str, name: str) -> dict[str, str]:
        """``{run_id: status text}`` of a batch ({} if it is gone or does not parse)."""
        path = f"{self._status_dir(sweep)}/{name}"
        found = self._status_batch_cache.get(path)
        if found is None:
            try:
                found = _parse_batch(self._read_text(path))
            except ValueError:
                return {}  # damaged: `damaged_status_batches` names it
            if found is None:
                return {}
            self._status_batch_cache[path] = found
        return found

    def damaged_status_batches(self, sweep: str) -> dict[str, str]:
        """``{batch name: reason}`` for the status batches that do not parse."""
        damaged = {}
        for name in self.status_batches(sweep):
            try:
                _parse_batch(self._read_text(f"{self._status_dir(sweep)}/{name}"))
            except ValueError as exc:
                damaged[name] = f"{type(exc).__name__}: {exc}"
        return damaged

    def write_status_batch(self, sweep: str, generation: int, texts: dict[str, str]) -> str:
        """Store ``texts`` (``{run_id: status text}``) as a new status batch; its name."""
        name = new_batch_name(generation).removesuffix(".parquet") + STATUS_SUFFIX
        self._write_text(self._status_dir(sweep), name, json.dumps(texts, sort_keys=True))
        return name

    def delete_status_batch(self, sweep: str, name: str) -> None:
        path = f"{self._status_dir(sweep)}/{name}"
        self._status_batch_cache.pop(path, None)
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(path)

    # ------------------------------------------------------------------ bytes
    def _write_text(self, folder: str, name: str, text: str) -> None:
        def write(tmp: str) -> None:
            with self._fs.open_output_stream(tmp) as out:
                out.write(text.encode())

        self._atomic(folder, name, write)

    def _read_text(self, path: str) -> str | None:
        try:
            with self._fs.open_input_stream(path) as f:
                text: str = f.read().decode(errors="replace")
                return text
        except (FileNotFoundError, IsADirectoryError):  # deleted since listed, or never there
            return None


def _parse_batch(text: str | None) -> dict[str, str] | None:
    """A status batch's ``{run_id: text}``; None if the file is gone; ValueError if damaged."""
    if text is None:
        return None
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError("not an object of run ids to status texts")
    for run_id, status in data.items():  # only readable statuses are ever batched
        try:
            record = StatusRecord.from_json(status)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the status of {run_id!r} does not read ({type(exc).__name__})") from None
        if record.run_id != run_id:
            raise ValueError(f"the status of {run_id!r} names run {record.run_id!r}")
    return data
