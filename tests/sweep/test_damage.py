"""A damaged results folder never wedges or crashes a sweep (`sweep.integrity`).

For every table and every kind of file — an in-flight part (a run killed mid-way), a run's
own compacted file, a batch file — and for every kind of damage — empty, truncated at
several offsets, garbage of the same length, bytes flipped in the middle (caught by the
pages' CRCs) — the sweep is run again on the damaged folder: it must print one warning line
naming the file, finish every run, and leave the tables of an undamaged run. Status files
(truncated, empty, garbage, valid JSON of the wrong shape) and a run marked done whose rows
are gone are covered too. The fast suite runs one damage kind per table and file kind in
rotation; ``-m slow`` runs the whole matrix.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sweep.compact
import sweep.driver
import sweep.run
from sweep.batch_files import batch_generation
from sweep.driver import plan, run_sweep
from sweep.spec import check_sweep_file
from sweep.store import ParquetStore
from sweep.tables import TABLES
from tests.sweep.helpers_e2e import (
    CASTRO,
    RESUME_SKIP,
    assert_finished_cleanly,
    assert_same_tables,
    write_sweep,
)
from tests.sweep.killpoints import Killed, KillingStore

NAME = "damage"
SMALL = (
    "evaluation.num_samples=4",
    "evaluation.reference_samples=4",
    "evaluation.context_days=1",
    "convergence.max_iterations=3",
)
SKIP = RESUME_SKIP


def _flip_middle(data: bytes) -> bytes:
    mid = len(data) // 3
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :]


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda b: b"",
    "truncated to 4 bytes": lambda b: b[:4],
    "truncated to half": lambda b: b[: len(b) // 2],
    "last byte cut": lambda b: b[:-1],
    "garbage": lambda b: bytes((i * 37 + 11) % 256 for i in range(len(b))),
    "bytes flipped in the middle": _flip_middle,
}
KINDS = ("in-flight part", "run file", "batch file")


class Folders:
    """The clean reference and three damaged-to-be states of one small sweep."""

    def __init__(self, root: Path) -> None:
        sweep_file = write_sweep(root, name=NAME, experiments=CASTRO[:2], models=["builtin/coordinate"], replicates=1)
        self.spec, self.cells = check_sweep_file(sweep_file, [*SMALL, f"output={root}"])
        self.reference = root / "reference"
        self.run(self.reference)
        self.states = {"batch file": root / "batched", "run file": root / "own", "in-flight part": root / "flight"}
        shutil.copytree(self.reference, self.states["batch file"])
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sweep.driver, "compact_sweep", lambda *a, **k: None)
            mp.setattr(sweep.compact, "COMPACT_EVERY", 10**9)
            self.run(self.states["run file"])
            counting = KillingStore(root / "count")
            self.run(root / "count", counting)
            halfway = next(
                i
                for i, s in enumerate(counting.steps, 1)
                if s.startswith("save events/castro_exp2") and "it-00002" in s
            )
            with pytest.raises(Killed):  # exp1 done, exp2 killed with iterations 0-2 stored
                self.run(self.states["in-flight part"], KillingStore(self.states["in-flight part"], halfway))

    def run(self, out: Path, store: ParquetStore | None = None) -> list[str]:
        store = store or ParquetStore(out)
        notes = plan(self.cells, store, retry_failed=False).repairs
        run_sweep(self.spec, self.cells, store, str(out), executor="local")
        return notes

    def files(self, kind: str, table: str) -> list[Path]:
        folder = self.states[kind] / table / f"sweep={NAME}"
        if kind == "batch file":
            return sorted(p for p in folder.iterdir() if batch_generation(p.name) is not None)
        wanted = "~" if kind == "in-flight part" else ""
        return sorted(
            p
            for p in folder.glob("*.parquet")
            if batch_generation(p.name) is None and (("~" in p.name) if wanted else ("~" not in p.name))
        )


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Folders:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweep.run, "HEARTBEAT_SECONDS", 3600.0)
        return Folders(tmp_path_factory.mktemp("damage"))


def _check_recovers(folders: Folders, kind: str, table: str, damage: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(folders.states[kind], work)
    source = folders.files(kind, table)
    assert source, f"no {kind} in {table}"
    victim = work / source[0].relative_to(folders.states[kind])
    original = victim.read_bytes()
    victim.write_bytes(DAMAGE[damage](original))
    harmless = _reads_the_same(victim, original)  # flipped bytes in a page header's statistics, say
    notes = folders.run(work)
    assert harmless or any(str(victim) in note for note in notes), notes
    assert all("\n" not in note for note in notes)
    assert_finished_cleanly(work, len(folders.cells), sweep=NAME)
    assert_same_tables(work, folders.reference, skip=SKIP, sweep=NAME)


def _reads_the_same(damaged: Path, original: bytes) -> bool:
    """Whether the damaged file still reads, with CRC checks, as the original's rows."""
    try:
        got = pq.read_table(damaged, page_checksum_verification=True)
    except (OSError, pa.ArrowException):
        return False
    return bool(got.equals(pq.read_table(pa.BufferReader(original))))


# Fast: every (file kind, table), with the damage kinds in rotation; slow: every combination.
# (``runs`` has no in-flight part: its one row is written when the run ends.)
FILES = [(k, t) for k, t in itertools.product(KINDS, TABLES) if (k, t) != ("in-flight part", "runs")]
ROTATION = [(k, t, d) for (k, t), d in zip(FILES, itertools.cycle(DAMAGE))]
MATRIX = [
    pytest.param(k, t, d, marks=pytest.mark.slow)
    for (k, t), d in itertools.product(FILES, DAMAGE)
    if (k, t, d) not in ROTATION
]


@pytest.mark.parametrize(("kind", "table", "damage"), ROTATION + MATRIX)
def test_a_damaged_table_file_is_named_and_its_run_redone(
    folders: Folders, kind: str, table: str, damage: str, tmp_path: Path
) -> None:
    _check_recovers(folders, kind, table, damage, tmp_path)


STATUS_DAMAGE = {
    **{k: DAMAGE[k] for k in ("empty", "truncated to half", "last byte cut", "garbage")},
    "a JSON list": lambda b: b"[]",
    "no heartbeat": lambda b: b'{"run_id": "x", "status": "done"}',
}


@pytest.mark.parametrize("state", ["batch file", "in-flight part"])
@pytest.mark.parametrize("damage", sorted(STATUS_DAMAGE))
def test_a_damaged_status_file_is_named_and_the_run_resumes(
    folders: Folders, state: str, damage: str, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    shutil.copytree(folders.states[state], work)
    victims = sorted((work / "_status" / f"sweep={NAME}").glob("*.json"))
    # a finished sweep keeps its statuses in one status batch; one in flight, one file a run
    assert len(victims) == (1 if state == "batch file" else len(folders.cells)), victims
    for victim in victims:
        victim.write_bytes(STATUS_DAMAGE[damage](victim.read_bytes()))
    notes = folders.run(work)
    assert len(notes) == len(victims) and all("damaged status file" in n for n in notes), notes
    assert all(any(v.name in n for n in notes) for v in victims), notes
    assert_finished_cleanly(work, len(folders.cells), sweep=NAME)
    assert_same_tables(work, folders.reference, skip=SKIP, sweep=NAME)


def test_a_run_marked_done_whose_rows_are_gone_runs_again(folders: Folders, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(folders.states["run file"], work)
    store = ParquetStore(work)
    lost = store.list_runs(NAME)[0]
    (work / "events" / f"sweep={NAME}" / f"{lost}.parquet").unlink()
    notes = folders.run(work)
    assert notes == [
        f"run {lost} is marked done but the end of its events and its events files are missing: it will run again"
    ]
    assert_finished_cleanly(work, len(folders.cells), sweep=NAME)
    assert_same_tables(work, folders.reference, skip=SKIP, sweep=NAME)


def test_an_undamaged_folder_gets_no_warning(folders: Folders, tmp_path: Path) -> None:
    for state in folders.states.values():
        work = tmp_path / state.name
        shutil.copytree(state, work)
        assert folders.run(work) == []
        assert_same_tables(work, folders.reference, skip=SKIP, sweep=NAME)
