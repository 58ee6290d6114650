"""``paylab run``: an output folder that cannot be written, and errors raised after loading.

* ``--out`` (or ``output.directory``) that is a file, lies under a file, or cannot be created
  is one line naming the option (or the experiment file and key), exit 2, before the run
  starts — nothing is written anywhere.
* A bad-input error raised after the files loaded (here: the LLM refusing the model, found
  only at the first call) still names the experiment file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paylab_cli import main
from tests.conftest import EXPERIMENTS
from tests.fakes.fake_openai import FakeOpenAIServer, Fault

EXP1 = EXPERIMENTS / "castro" / "exp1.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    try:
        main(["run", *argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err.splitlines()


def _file(tmp: Path) -> Path:
    path = tmp / "a_file"
    path.write_text("x")
    return path


OUTS = {
    "a_file": (_file, "is not a folder"),
    "under_a_file": (lambda tmp: _file(tmp) / "sub", "cannot be created"),
    "in_proc": (lambda tmp: Path("/proc/paylab-no-such/x"), "not writable"),
    "dev_null": (lambda tmp: Path("/dev/null"), "is not a folder"),
}


@pytest.mark.parametrize("make,words", OUTS.values(), ids=OUTS.keys())
def test_out_that_cannot_be_written_is_one_line(
    make: object, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = make(tmp_path)  # type: ignore[operator]
    before = sorted(tmp_path.rglob("*"))
    code, lines = run([str(EXP1), "--out", str(out), "--max-iterations", "1"], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: --out: ") and words in lines[0]
    assert sorted(tmp_path.rglob("*")) == before  # nothing half-written


def test_output_directory_in_the_file_names_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        EXP1.read_text()
        .replace("output: {directory: results}", f"output: {{directory: '{_file(tmp_path)}'}}")
        .replace("scenario: scenarios/exp1.yaml", f"scenario: {EXP1.parent / 'scenarios/exp1.yaml'}")
    )
    code, lines = run([str(exp), "--max-iterations", "1"], capsys)
    assert code == 2 and lines == [f"error: {exp}: output.directory: '{tmp_path / 'a_file'}' is not a folder"]


def test_an_error_found_after_loading_names_the_experiment_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-after-loading")
    with FakeOpenAIServer([Fault(404, message="no such model")]) as server:
        code, lines = run(
            [
                str(EXP1),
                "--model",
                "openai/nope",
                "--api-base",
                server.base_url,
                "--max-iterations",
                "1",
                "--out",
                str(tmp_path / "r"),
                "--json",
            ],
            capsys,
        )
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {EXP1}: llm: openai/nope cannot be called"), lines[0]
    assert json.dumps(lines).count("sk-test-after-loading") == 0
