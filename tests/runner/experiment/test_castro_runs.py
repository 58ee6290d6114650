"""The Castro experiments end to end through the real ``paylab run`` console script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runner.experiment.support import EXP1, EXP2, EXP3, paylab, paylab_in_process


def run_json(exp: Path, out: Path, *extra: str) -> dict[str, Any]:
    proc = paylab("run", exp, "--model", "builtin/coordinate", "--json", "--out", out, *extra)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warnings for the shipped files
    result = json.loads(proc.stdout)
    stored = json.loads((out / result["run_id"] / "result.json").read_text())
    assert stored == result
    assert (out / result["run_id"] / "events.jsonl").is_file()
    return result


def fractions(result: dict[str, Any]) -> dict[str, float]:
    return {a: p["parameters"]["initial_liquidity_fraction"] for a, p in result["final_policies"].items()}


def test_exp1_reaches_the_equilibrium(tmp_path: Path) -> None:
    result = run_json(EXP1, tmp_path)
    f = fractions(result)
    assert f["BANK_A"] <= 0.01
    assert 0.19 <= f["BANK_B"] <= 0.21
    assert result["final_total"] == pytest.approx(2000, rel=0.02)
    assert result["baseline_total"] == 10000.0
    assert result["model"] == "builtin/coordinate" and result["experiment"] == "castro_exp1"
    assert result["stop_reason"] in ("converged", "max_iterations")


def test_exp3_reaches_the_symmetric_equilibrium(tmp_path: Path) -> None:
    result = run_json(EXP3, tmp_path)
    f = fractions(result)
    assert 0.17 <= f["BANK_A"] <= 0.23 and 0.17 <= f["BANK_B"] <= 0.23
    assert result["final_total"] == pytest.approx(2 * 1998, rel=0.02)
    assert result["baseline_total"] == 2 * 4995


def test_cli_overrides_reach_the_run(tmp_path: Path) -> None:
    code, out, err = paylab_in_process(
        "run",
        EXP1,
        "--model",
        "builtin/none",
        "--max-iterations",
        "2",
        "--seed",
        "9",
        "--replicate",
        "1",
        "--json",
        "--out",
        tmp_path,
    )
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert (result["model"], result["iterations"], result["master_seed"], result["replicate"]) == (
        "builtin/none",
        2,
        9,
        1,
    )
    assert result["final_total"] == result["baseline_total"]  # builtin/none never changes anything


@pytest.mark.slow
def test_exp2_beats_its_baseline(tmp_path: Path) -> None:
    result = run_json(EXP2, tmp_path)
    assert result["final_total"] < result["baseline_total"]
    assert result["baseline_total"] == pytest.approx(2 * 49_800, rel=0.01)  # 0.5/0.5: liquidity only
    assert all(0.0 < f < 0.5 for f in fractions(result).values())
