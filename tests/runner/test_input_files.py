"""Every input file kind is read through one bounded path (`runner.input_files`).

For each class — special files and directories, oversized files, YAML alias bombs and
cycles, duplicate keys (YAML and JSON), non-numbers and out-of-range numbers in JSON, deep
nesting — and for every file kind (scenario, policy, experiment, sweep, and the files they
point to), ``paylab validate`` must answer with exactly one stderr line naming the file,
exit 2, quickly, and never quote the content of a file it was pointed to.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from paylab_cli import main
from runner.input_files import (
    MAX_FILE_BYTES,
    MAX_NESTING,
    MAX_NODES,
    InputError,
    check_shape,
    decode_json,
    load_yaml_text,
)
from tests.conftest import EXPERIMENTS

EXP1 = EXPERIMENTS / "castro" / "scenarios" / "exp1.yaml"
SECRET = "TOP-SECRET-CONTENT-4242"


def validate(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    started = time.monotonic()
    try:
        main(["validate", *argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    return code, err.splitlines()


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *expect: str) -> str:
    code, lines = validate(argv, capsys)
    assert code == 2 and len(lines) == 1, lines
    line = lines[0]
    for text in expect:
        assert text in line, line
    assert SECRET not in line
    return line


# --------------------------------------------------------------------------- special files


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.yaml"
    os.mkfifo(path)
    return path


def _socket(tmp: Path) -> Path:
    path = tmp / "s.yaml"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return path


SPECIAL: dict[str, Callable[[Path], Path]] = {
    "fifo": _fifo,
    "socket": _socket,
    "directory": lambda tmp: tmp,
    "dev_zero": lambda tmp: Path("/dev/zero"),
    "dev_null": lambda tmp: Path("/dev/null"),
    "dev_urandom": lambda tmp: Path("/dev/urandom"),
}


@pytest.mark.parametrize("make", SPECIAL.values(), ids=SPECIAL.keys())
def test_special_files_and_directories_are_refused_before_reading(
    make: Callable[[Path], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path)
    refused([str(path)], capsys, str(path), "not a regular file" if path != tmp_path else "is a directory")


@pytest.mark.parametrize("make", [_fifo, lambda tmp: Path("/dev/zero")], ids=["fifo", "dev_zero"])
@pytest.mark.parametrize("field", ["scenario", "json_path", "system_prompt_file", "sweep"])
def test_special_files_reached_through_a_field(
    make: Callable[[Path], Path], field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make(tmp_path)
    path = pointing_to(tmp_path, field, target)
    # a sweep's experiment paths are resolved by sweep.expand, which words it its own way
    refused([str(path)], capsys, *(() if field == "sweep" else ("not a regular file",)))


def pointing_to(tmp: Path, field: str, target: Path) -> Path:
    """A valid file of some kind whose ``field`` points at ``target``."""
    experiment = {"name": "x", "scenario": str(EXP1), "optimized_agents": ["BANK_A"], "llm": {"model": "builtin/none"}}
    if field == "scenario":
        experiment["scenario"] = str(target)
    elif field == "system_prompt_file":
        experiment["llm"] = {"model": "builtin/none", "system_prompt_file": str(target)}
    elif field == "json_path":
        raw = load_yaml_text(EXP1.read_text())
        raw["agents"][0]["policy"] = {"type": "FromJson", "json_path": str(target)}
        scenario = tmp / "scenario.yaml"
        scenario.write_text(json.dumps(raw))
        return scenario
    exp = tmp / "exp.yaml"
    exp.write_text(json.dumps(experiment))
    if field == "sweep":
        sweep = tmp / "sweep.yaml"
        sweep.write_text(json.dumps({"name": "s", "experiments": [str(target)]}))
        return sweep
    return exp


# --------------------------------------------------------------------------- another file's content


@pytest.mark.parametrize("field", ["scenario", "json_path", "sweep"])
@pytest.mark.parametrize("content", [SECRET, f"KEY: {SECRET}\n", f"- {SECRET}\n", f"{{{SECRET}", f'"{SECRET}"'])
def test_errors_never_quote_a_file_pointed_to(
    field: str, content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(content)
    code, lines = validate([str(pointing_to(tmp_path, field, secret))], capsys)
    assert code == 2 and len(lines) == 1 and SECRET not in lines[0], lines


@pytest.mark.parametrize("content", [SECRET, f"- {SECRET}\n", f'"{SECRET}"', "42"])
def test_top_level_of_the_wrong_kind_is_described_not_quoted(
    content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(content)
    refused([str(path)], capsys, "the top level must be a YAML mapping")


# --------------------------------------------------------------------------- size


@pytest.mark.parametrize("extra,ok", [(-1, True), (0, True), (1, False)], ids=["below", "at", "above"])
def test_file_size_bound(extra: int, ok: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    text = EXP1.read_text()
    path.write_text(text + "#" * (MAX_FILE_BYTES + extra - len(text.encode())))
    assert path.stat().st_size == MAX_FILE_BYTES + extra
    if ok:
        code, lines = validate([str(path)], capsys)
        assert code == 0, lines
    else:
        refused([str(path)], capsys, "input files are limited to 10,485,760 bytes")


# --------------------------------------------------------------------------- YAML


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join(f"*a{i - 1}" for _ in range(width)) + "]")
    return "\n".join(lines) + "\n"


BOMBS = {
    "billion_laughs": billion_laughs(),
    "wide_text": 'a: &a "' + "x" * 1_000_000 + '"\nb: [' + ", ".join(["*a"] * 20) + "]\n",
    "cycle": "a: &a [*a]\n",
    "deep_flow": "a: " + "[" * 5_000 + "]" * 5_000 + "\n",
    "deep_block": "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v: 1\n",
}


@pytest.mark.parametrize("text", BOMBS.values(), ids=BOMBS.keys())
@pytest.mark.parametrize("kind", ["scenario", "experiment", "sweep"])
def test_yaml_bombs_are_refused_quickly(
    text: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = {
        "scenario": "simulation: {ticks_per_day: 2}\n",
        "experiment": "scenario: x.yaml\n",
        "sweep": "experiments: [x.yaml]\n",
    }[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(head + text)
    refused([str(path)], capsys, str(path))


def test_shape_bounds_at_their_edges() -> None:
    check_shape(json.loads("[" * MAX_NESTING + "]" * MAX_NESTING))
    with pytest.raises(InputError, match="nested more than 200"):
        check_shape(json.loads("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)))
    check_shape([0] * (MAX_NODES - 1))
    with pytest.raises(InputError, match="values once aliases are expanded"):
        check_shape([0] * MAX_NODES)
    shared = ["x" * 1000]
    check_shape([shared] * 10)  # shared parts count at every use, measured once
    with pytest.raises(InputError, match="characters of text"):
        check_shape([shared] * (MAX_FILE_BYTES // 1000 + 1))


def test_aliases_within_bounds_and_merge_keys_still_load() -> None:
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nlist: [*b, *b]\n"
    assert load_yaml_text(text) == {"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3}, "list": [{"x": 1, "y": 2}] * 2}


DUPLICATES = {
    "top_level": ("simulation: {ticks_per_day: 2}\nsimulation: {ticks_per_day: 3}\n", "'simulation' at line 2"),
    "nested": ("simulation:\n  ticks_per_day: 2\n  ticks_per_day: 3\n", "'ticks_per_day' at line 3"),
    "flow": ("simulation: {ticks_per_day: 2, ticks_per_day: 3}\n", "'ticks_per_day' at line 1"),
    "in_a_list": ("agents:\n  - {id: A, id: B}\n", "'id' at line 2"),
    "numeric_key": ("x: {1: a, 1: b}\n", "duplicate key 1"),
    "int_and_float_key": ("x: {1: a, 1.0: b}\n", "duplicate key 1.0"),
}


@pytest.mark.parametrize("text", ["? [1, 2]\n: x\n", "? {a: 1}\n: x\n", "x: {? [a]\n: 1}\n"])
def test_complex_yaml_keys_are_refused(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(text)
    refused([str(path)], capsys, "keys must be plain values")


@pytest.mark.parametrize("text,where", DUPLICATES.values(), ids=DUPLICATES.keys())
def test_duplicate_yaml_keys_are_refused(
    text: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    refused([str(path)], capsys, "duplicate key", where)


# --------------------------------------------------------------------------- JSON

JSON_CASES = {
    "duplicate_key": ('{"version": "1.0", "version": "2.0"}', "duplicate key 'version'"),
    "nested_duplicate": ('{"parameters": {"a": 1, "a": 2}}', "duplicate key 'a'"),
    "nan": ('{"parameters": {"a": NaN}}', "NaN is not a number"),
    "infinity": ('{"parameters": {"a": Infinity}}', "Infinity is not a number"),
    "float_overflow": ('{"parameters": {"a": 1e309}}', "too large for a float"),
    "int_beyond_int64": ('{"parameters": {"a": 9223372036854775808}}', "beyond int64"),
    "int_very_long": ('{"parameters": {"a": ' + "9" * 10_000 + "}}", "beyond int64"),
    "deep": ('{"a": ' * 5_000 + "1" + "}" * 5_000, "nested more than"),
    "deep_lists": ("[" * 100_000 + "]" * 100_000, "nested more than"),
}


@pytest.mark.parametrize("text,reason", JSON_CASES.values(), ids=JSON_CASES.keys())
def test_hostile_json_policy_files_are_refused(
    text: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.json"
    path.write_text(text)
    refused([str(path)], capsys, str(path), reason)


@pytest.mark.parametrize("value", ["9223372036854775807", "-9223372036854775807", "1e308", "-1.5e-300"])
def test_json_numbers_at_the_edge_are_read(value: str) -> None:
    assert decode_json(f'{{"a": {value}}}')["a"] == json.loads(value)


def test_a_lone_surrogate_in_a_policy_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"policy_id": "\\ud800", "payment_tree": {"type": "action", "action": "Release"}}')
    refused([str(path)], capsys, "policy_id: text that cannot be encoded as UTF-8")
