"""A damaged results folder never wedges a sweep: find the damage, name the file, redo the run.

Damage a results folder can hold: a Parquet file that does not read (empty, truncated — a
file renamed into place but never flushed to disk before a power cut — or garbage), in any
table and of any kind (an in-flight part, a run's compacted file, a batch file); a status
file that does not parse; a run marked done whose rows are incomplete (no ``experiment_end``
in its events or no ``runs`` row, e.g. after a batch was lost). `repair_sweep` runs when a
sweep starts, under the output lock (`sweep.lock`), before anything is planned:

* every table file of the sweep is read in full; one that fails is deleted and every run it
  held is deleted too (`ResultStore.delete_run`) and so runs again from the start — the
  offline proposers and recorded runs give the same rows; an LLM run is asked again;
* a status that does not parse is deleted: the run resumes from its stored rows (a status
  batch that does not parse is deleted whole: each run it held resumes so);
* a run marked done is verified (its events end with ``experiment_end``, its ``runs`` row
  exists); if not, it is deleted and runs again.

Each finding is one line naming the file (or run) and what happens to it. The other runs
are left alone, and the sweep goes on.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from runner.experiment.event_types import ExperimentEndPayload, type_name
from runner.experiment.status import RunStatus
from sweep.batch_files import batch_generation
from sweep.part_names import parse_file_name
from sweep.store import ParquetStore, ResultStore
from sweep.tables import TABLES

READ_ERRORS = (OSError, pa.ArrowException, ValueError)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def damaged_files(store: ParquetStore, sweep: str) -> list[tuple[str, str, set[str] | None]]:
    """``(path, reason, run ids it held or None if unknown)`` for every table file that fails."""
    found = []
    for table in TABLES:
        folder = store._dir(table, sweep)
        for info in store._files_in(folder):
            name = info.base_name
            ref = parse_file_name(sweep, name)
            is_batch = ref is None and batch_generation(name) is not None
            if ref is None and not is_batch:
                continue  # temp files and foreign files are not ours to judge
            try:
                with store._fs.open_input_file(info.path) as f:
                    pq.read_table(f, page_checksum_verification=True)  # pages carry CRCs
                if is_batch:
                    store.batch(table, sweep, name)
            except READ_ERRORS as exc:
                runs: set[str] | None = {ref.run_id} if ref is not None else None
                if is_batch:
                    try:
                        runs = set(store.batch(table, sweep, name).runs)
                    except READ_ERRORS:
                        runs = None
                found.append((info.path, _reason(exc), runs))
    return found


def repair_sweep(store: ResultStore, sweep: str) -> list[str]:
    """Find and clear the damage of ``sweep``'s results (see the module docstring); one line each."""
    if not isinstance(store, ParquetStore) or sweep in store.repaired:
        return []  # (a driver plans twice: the command, then `run_sweep`; one full read is enough)
    store.repaired.add(sweep)
    notes = []
    for run_id, reason in store.status_problems(sweep).items():
        notes.append(
            f"damaged status file {store._status_dir(sweep)}/{run_id}.json ({reason}): removed, "
            f"the run resumes from its stored rows"
        )
        store._remove_status(sweep, run_id)
    for name, reason in store.damaged_status_batches(sweep).items():
        notes.append(
            f"damaged status file {store._status_dir(sweep)}/{name} ({reason}): removed, "
            f"the runs it held resume from their stored rows"
        )
        store.delete_status_batch(sweep, name)
    redo: set[str] = set()
    for path, reason, runs in damaged_files(store, sweep):  # every damaged file goes first...
        table, name = path.rsplit("/", 3)[-3], path.rsplit("/", 1)[-1]
        store._batch_cache.pop(path, None)
        with_runs = f"run {', '.join(sorted(runs))}" if runs else "the runs it held"
        notes.append(f"damaged results file {path} ({reason}): deleted; {with_runs} will run again")
        ref = parse_file_name(sweep, name)
        if ref is not None:
            store._remove(table, [ref])
        else:
            store.delete_batch(table, sweep, name)
        redo |= runs or set()
    for run_id in sorted(redo):  # ...then their runs' other files (reads no damaged file now)
        store.delete_run(sweep, run_id)
    notes.extend(_verify_done(store, sweep))
    return notes


def _verify_done(store: ParquetStore, sweep: str) -> list[str]:
    done = sorted(r for r, s in store.get_status(sweep).items() if s.status == RunStatus.DONE)
    if not done:
        return []
    events = store.read("events", sweep)
    ended = set(events.filter(pc.equal(events["type"], type_name(ExperimentEndPayload)))["run_id"].to_pylist())
    runs = store.read("runs", sweep)
    with_row = set(runs.filter(pc.equal(runs["status"], RunStatus.DONE.value))["run_id"].to_pylist())
    # A finished run has a compacted file (its own or a batch's slice) in every table, even
    # with no rows there: one that has none lost it (a batch whose footer did not read).
    served = {t: {r.run_id for r in store._list(t, sweep, None) if r.part is None} for t in TABLES}
    notes = []
    for run_id in done:
        lost = [t for t in TABLES if run_id not in served[t]]
        missing = [
            what
            for what, ok in (
                ("the end of its events", run_id in ended),
                ("its runs row", run_id in with_row),
                (f"its {', '.join(lost)} files", not lost),
            )
            if not ok
        ]
        if missing:
            notes.append(
                f"run {run_id} is marked done but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing: it will run again"
            )
            store.delete_run(sweep, run_id)
    return notes
