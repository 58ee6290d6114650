"""``paylab plot`` and ``paylab report`` from the command line: files written, bad input refused.

Bad input — a folder with no sweep, an unknown sweep, an unknown run id, an unknown ``--by``
column, an unknown format — gives one line on stderr naming what is wrong, exit 2, nothing
on stdout and nothing written. Good input writes the files it lists, from a local folder or
a ``file://`` URI (how results copied from a cluster, or on an object store, are read).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.image import imread

from paylab_cli import main
from sweep.store import open_store
from tests.sweep.plots.conftest import MIXED, PLAIN


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _bad(argv: list[str], capsys: pytest.CaptureFixture[str], *expect: str) -> None:
    code, out, err = _run(argv, capsys)
    assert code == 2, err
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    for text in expect:
        assert text in err, err


@pytest.mark.parametrize("command", ["plot", "report"])
def test_a_folder_without_a_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    _bad([command, str(empty)], capsys, str(empty), "no sweep results")
    _bad([command, str(tmp_path / "missing")], capsys, "no sweep results")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nothing"] and list(empty.iterdir()) == []


@pytest.mark.parametrize("command", ["plot", "report"])
def test_an_unknown_sweep_or_by_column(
    mixed_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    target = ["--out", str(tmp_path / "p")] if command == "plot" else ["--output", str(tmp_path / "r.html")]
    _bad([command, str(mixed_out), "--sweep", "nope", *target], capsys, "--sweep", "'nope'", MIXED)
    _bad([command, str(mixed_out), "--by", "scenario,colour", *target], capsys, "--by", "'colour'", "llm.model")
    _bad([command, str(mixed_out), "--sweep", "../x", *target], capsys, "--sweep")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_run_id(mixed_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    known = open_store(str(mixed_out)).read("runs", sweep=MIXED).column("run_id").to_pylist()[0]
    _bad(
        ["plot", str(mixed_out), "--run", known, "--run", "castro_exp9-0000-none", "--out", str(tmp_path / "p")],
        capsys,
        "--run",
        "'castro_exp9-0000-none'",
        MIXED,
        "runs: ",
    )
    _bad(["plot", str(mixed_out), "--run", known, "--format", "gif", "--out", str(tmp_path / "p")], capsys, "--format")
    assert list(tmp_path.iterdir()) == []


def test_plot_writes_the_sweep_figures(mixed_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["plot", str(mixed_out), "--out", str(tmp_path)], capsys)
    assert code == 0, err
    written = [Path(line) for line in out.splitlines()]
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert names == [f"{MIXED}/{n}.png" for n in ("final_cost", "llm", "settlement", "stop_reasons")]
    for path in written:
        assert imread(str(path))[..., :3].std() > 0.02
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_plot_one_run_from_a_file_uri(
    plain_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    run_id = open_store(str(plain_out)).read("runs", sweep=PLAIN).column("run_id").to_pylist()[-1]
    code, out, err = _run(
        ["plot", plain_out.as_uri(), "--run", run_id, "--out", str(tmp_path), "--format", fmt], capsys
    )
    assert code == 0, err
    written = sorted(Path(line).relative_to(tmp_path).as_posix() for line in out.splitlines())
    assert written == [f"{PLAIN}/runs/{run_id}/{n}.{fmt}" for n in ("cost", "parameters")]
    head = (tmp_path / written[0]).read_bytes()[:200]
    assert (b"<svg" in head or b"<?xml" in head) if fmt == "svg" else head.startswith(b"%PDF")


def test_plot_defaults_to_out_plots(plain_out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["plot", str(plain_out)], capsys)
    assert code == 0
    assert all(Path(line).is_relative_to(plain_out / "plots") for line in out.splitlines())


def test_report_prints_the_path_it_wrote(plain_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "sub" / "r.html"
    code, out, err = _run(["report", plain_out.as_uri(), "--output", str(target)], capsys)
    assert code == 0, err
    assert out.strip() == str(target.resolve()) and target.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_the_same_tables_give_the_same_bytes(
    plain_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    for name in ("a", "b"):
        assert _run(["plot", str(plain_out), "--format", fmt, "--out", str(tmp_path / name)], capsys)[0] == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob(f"*.{fmt}"))
    assert len(files) == 3
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
