"""What the plots read: one sweep's tables from a result store, each read once.

Reads go through `ResultStore.read` (any `sweep.analysis.TableReader`), so the store's rules
apply — only committed iterations of runs in flight, parts overriding a merged file — and
``OUT`` may be a local folder or a pyarrow filesystem URI (``file://``, ``s3://``…): results
copied from a cluster plot as they are. Bad input (no sweep in ``OUT``, an unknown sweep or
run id) is a one-line `ConfigError` naming ``OUT`` and what it holds.
"""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from runner.errors import ConfigError
from sweep.analysis import TableReader, proposal_counts
from sweep.part_names import check_names

Row = dict[str, Any]
_LISTED = 8  # ids named in an "unknown run" message before "…"


def open_sweeps(store: TableReader, where: str, sweep: str | None) -> list[SweepTables]:
    """The sweeps to draw: ``sweep`` if it has runs, else every sweep with runs, by name.

    The runs table is read once here and handed to each `SweepTables`.

    Raises:
        ConfigError: ``where`` holds no runs at all, or none of ``sweep``.
    """
    try:
        check_names(sweep or "x")
    except ValueError as exc:
        raise ConfigError(str(exc), path="--sweep") from None
    runs = store.read("runs", sweep=sweep)
    if sweep is not None and runs.num_rows == 0:
        runs = store.read("runs")  # only to name the sweeps there are
    found = sorted({str(n) for n in runs.column("sweep").to_pylist()})
    if not found:
        raise ConfigError("no sweep results here (no runs table: is this a sweep's output folder?)", source=where)
    if sweep is not None and sweep not in found:
        raise ConfigError(f"no runs for sweep {sweep!r} (found: {', '.join(found)})", path="--sweep", source=where)
    names = [sweep] if sweep is not None else found
    if len(names) == 1:
        return [SweepTables(store, names[0], where, runs=runs)]
    return [SweepTables(store, name, where, runs=runs.filter(pc.equal(runs["sweep"], name))) for name in names]


class SweepTables:
    """One sweep's tables, each read once on first use; per-run slices without re-reading.

    Every table comes back sorted by ``run_id`` first (`sweep.tables.SORT_KEYS`), so one run's
    rows are one contiguous slice.
    """

    def __init__(self, store: TableReader, sweep: str, where: str, runs: Any = None) -> None:
        self.store, self.sweep, self.where = store, sweep, where
        self._tables: dict[str, Any] = {} if runs is None else {"runs": runs}
        self._slices: dict[str, dict[str, tuple[int, int]]] = {}

    def table(self, name: str) -> Any:
        """Every row of table ``name`` of this sweep (a `pyarrow.Table`)."""
        if name not in self._tables:
            self._tables[name] = self.store.read(name, sweep=self.sweep)
        return self._tables[name]

    def runs(self) -> list[Row]:
        """The runs rows, one per run (failed ones included), sorted by run id."""
        if "runs:rows" not in self._tables:
            self._tables["runs:rows"] = self.table("runs").to_pylist()
        rows: list[Row] = self._tables["runs:rows"]
        return rows

    def run_ids(self) -> list[str]:
        """Runs with a runs row, then runs still in flight (iterations but no runs row yet)."""
        finished = [str(r["run_id"]) for r in self.runs()]
        in_flight = sorted(set(self._index("iterations")) - set(finished))
        return finished + in_flight

    def run(self, run_id: str) -> Row:
        """The runs row of ``run_id`` (a stub with ``status`` "running" for a run in flight)."""
        for row in self.runs():
            if row["run_id"] == run_id:
                return row
        if run_id in self._index("iterations"):
            return {"sweep": self.sweep, "run_id": run_id, "status": "running"}
        ids = self.run_ids()
        shown = ", ".join(ids[:_LISTED]) + (f", … ({len(ids)} runs)" if len(ids) > _LISTED else "")
        raise ConfigError(f"no run {run_id!r} in sweep {self.sweep!r} (runs: {shown})", path="--run", source=self.where)

    def for_run(self, name: str, run_id: str) -> Any:
        """The rows of table ``name`` that belong to ``run_id`` (possibly none)."""
        start, length = self._index(name).get(run_id, (0, 0))
        return self.table(name).slice(start, length)

    def proposal_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(sweep, run_id) → (proposals, accepted), as `paylab analyze` counts them."""
        if "proposals:counts" not in self._tables:  # from the proposals table read once, here
            self._tables["proposals:counts"] = proposal_counts(self.reader(), self.sweep)
        counts: dict[tuple[str, str], tuple[int, int]] = self._tables["proposals:counts"]
        return counts

    def reader(self) -> TableReader:
        """These tables as a `TableReader` of this sweep (for `sweep.analysis`): no re-reading."""
        return _Read(self)

    def _index(self, name: str) -> dict[str, tuple[int, int]]:
        if name not in self._slices:
            ids = self.table(name).column("run_id").to_pylist()
            index: dict[str, tuple[int, int]] = {}
            start = 0
            for k in range(1, len(ids) + 1):
                if k == len(ids) or ids[k] != ids[start]:
                    index[str(ids[start])] = (start, k - start)
                    start = k
            self._slices[name] = index
        return self._slices[name]


class _Read:
    """`SweepTables` as a `TableReader` of its one sweep (tables read once, then reused)."""

    def __init__(self, tables: SweepTables) -> None:
        self.tables = tables

    def read(self, table: str, sweep: str | None = None, run_id: str | None = None) -> Any:
        if sweep != self.tables.sweep or run_id is not None:
            raise ValueError(f"reads sweep {self.tables.sweep!r} whole, got sweep={sweep!r} run_id={run_id!r}")
        return self.tables.table(table)
