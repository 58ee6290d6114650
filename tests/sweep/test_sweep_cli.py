"""`paylab sweep`, `paylab validate` and `paylab analyze` through the real command line.

* ``--dry-run`` lists every cell and the count and writes nothing;
* malformed sweep files (tests/data/bad_sweeps/) exit 2 with exactly one ``error: …`` line on
  stderr, no traceback, nothing on stdout and nothing written where ``output`` points;
* ``paylab validate`` accepts a good sweep file and rejects a bad one the same way;
* ``paylab analyze`` on an empty (or missing) folder says so in one line and creates nothing;
  a bad ``--by`` or ``--format`` exits 2 with one line;
* a sweep of a model whose API key is not set says so in one line (exit 2) before anything
  runs or is written;
* a sweep with nothing left to run finishes at once with its table, without starting (or
  joining) any Ray;
* failure isolation: a cell whose initial policy divides by zero on the first tick fails at
  run time; the cells after it still run, the failed one becomes a ``runs`` row with
  ``status = failed`` and its error, ``paylab sweep`` prints it and exits 1; running the sweep
  again leaves it alone (exit 0), ``--retry-failed`` runs it again (attempt 2, exit 1).

Everything here uses the local executor or no executor at all: no Ray, not slow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweep.spec import check_sweep_file
from tests.conftest import EXPERIMENTS
from tests.sweep.helpers_e2e import (
    CASTRO,
    N_RUNS,
    PAYLAB,
    SMALL_OVERRIDES,
    kill_session,
    paylab,
    rows,
    statuses,
    sweep_args,
    write_sweep,
)

BAD = Path(__file__).resolve().parents[1] / "data" / "bad_sweeps"
# A dozen malformed files, one per kind of mistake (test_bad_sweeps.py checks every file's
# message in-process; here the point is what the user's shell sees).
BAD_FILES = [
    "unknown_top_key.yaml",
    "unknown_limits_key.yaml",
    "empty_axis.yaml",
    "axis_not_a_list.yaml",
    "unknown_experiment_key.yaml",
    "invalid_value.yaml",
    "invalid_scenario_override.yaml",
    "unknown_model.yaml",
    "zip_lengths.yaml",
    "missing_experiment.yaml",
    "bad_experiment_file.yaml",
    "output_bad_scheme.yaml",
    "not_a_mapping.yaml",
    "bad_name.yaml",
]


def _one_error_line(done: subprocess.CompletedProcess[str], what: str) -> str:
    assert done.returncode == 2, f"{what}: exit {done.returncode}\n{done.stderr}"
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {done.stderr!r}"
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == "", f"{what}: {done.stdout!r}"
    return lines[0]


def test_dry_run_lists_the_cells_and_writes_nothing(small_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = paylab(["sweep", str(small_sweep), "--dry-run", *SMALL_OVERRIDES], cwd=tmp_path)
    done_out = paylab(["sweep", str(small_sweep), "--dry-run", f"output={out}", *SMALL_OVERRIDES], cwd=tmp_path)
    assert done.returncode == 0 and done_out.returncode == 0, done.stderr + done_out.stderr
    # the settings come first, output included; the output folder is not part of a cell
    assert f"  output:      {out}" in done_out.stdout.splitlines()
    assert done.stdout.split("\n\n", 1)[1] == done_out.stdout.split("\n\n", 1)[1]
    _, cells = check_sweep_file(small_sweep, [*SMALL_OVERRIDES, f"output={out}"])
    lines = done.stdout.split("\n\n", 1)[1].splitlines()  # all the cells: fewer than a screenful
    assert lines[-1] == f"{N_RUNS} runs (3 experiments)"
    listed = [line.split()[1] for line in lines[1:-1]]  # "#  run_id  experiment  rep  …"
    assert listed == [c.run_id for c in cells]
    assert lines[0].split()[:3] == ["#", "run_id", "experiment"]
    assert sum("builtin/none" in line for line in lines) == N_RUNS // 2
    assert list(tmp_path.iterdir()) == [], "a dry run wrote something"  # neither results/ nor out/


def test_bad_sweep_files_fail_with_one_line(tmp_path: Path) -> None:
    """Every file through ``paylab sweep`` (and two through ``--dry-run``), four at a time."""
    cases = [[str(BAD / name)] for name in BAD_FILES]
    cases += [[str(BAD / "zip_lengths.yaml"), "--dry-run"], [str(BAD / "unknown_model.yaml"), "--dry-run"]]
    results = []
    for first in range(0, len(cases), 4):
        procs = [
            (
                case,
                subprocess.Popen(
                    [str(PAYLAB), "sweep", *case],
                    cwd=tmp_path,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                ),
            )
            for case in cases[first : first + 4]
        ]
        try:
            results += [(case, proc.communicate(timeout=120), proc.returncode) for case, proc in procs]
        finally:
            for _, proc in procs:
                kill_session(proc)
    for case, (out, err), code in results:
        name = Path(case[0]).name
        line = _one_error_line(subprocess.CompletedProcess(case, code, out, err), " ".join(case))
        assert f"bad_sweeps/{name}: " in line, line  # names the file
    assert list(tmp_path.iterdir()) == [], "a rejected sweep wrote something"


def test_a_missing_api_key_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    folder.mkdir()
    sweep_file = write_sweep(
        folder, name="e2e_key", experiments=CASTRO[:1], models=["openai/gpt-4o-mini"], replicates=1
    )
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    done = paylab(["sweep", str(sweep_file), f"output={out}"], cwd=tmp_path, env=env)
    line = _one_error_line(done, "missing key")
    assert line == (
        f"error: {sweep_file}: llm.model: openai/gpt-4o-mini needs an API key in OPENAI_API_KEY, "
        "which is not set (or name the variable that holds it in llm.api_key_env)"
    )
    assert not out.exists()


def test_validate_a_sweep_file(small_sweep: Path, tmp_path: Path) -> None:
    done = paylab(["validate", str(small_sweep)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{small_sweep}: valid sweep e2e_small (12 runs, every cell validated)"
    line = _one_error_line(paylab(["validate", str(BAD / "invalid_value.yaml")], cwd=tmp_path), "validate")
    assert "evaluation.num_samples: must be >= 1, got 0" in line
    assert list(tmp_path.iterdir()) == []


def test_analyze_an_empty_or_missing_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (empty, tmp_path / "missing"):
        done = paylab(["analyze", str(folder)], cwd=tmp_path)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout == f"no runs found in {folder}\n"
    assert list(tmp_path.iterdir()) == [empty] and list(empty.iterdir()) == []


def test_a_finished_sweep_reruns_without_ray(small_sweep: Path, local_reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(local_reference, out)
    # the default executor is Ray; an address where no cluster listens fails any attempt to join
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}
    done = paylab(sweep_args(small_sweep, out), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"sweep e2e_small: {N_RUNS} runs ({N_RUNS} done, 0 failed before, 0 to run) → {out}\n"
    assert "builtin/coordinate" in done.stdout  # the analyze table


# ----------------------------------------------------------------------- failure isolation
def _division_by_zero_experiment(folder: Path) -> Path:
    """Castro exp1 where BANK_B's initial policy divides by the tick of the day (0 at first).

    BANK_B pays at tick 0 (exp1's scenario), so the very first evaluation (the iteration-0
    reference cost) raises ``SimulationError: … division by zero``; validation cannot see it.
    """
    doc: dict[str, Any] = yaml.safe_load((EXPERIMENTS / "castro" / "exp1.yaml").read_text())
    tree = {
        "type": "condition",
        "node_id": "c",
        "condition": {
            "op": ">",
            "left": {"compute": {"op": "/", "left": {"field": "balance"}, "right": {"field": "system_tick_in_day"}}},
            "right": {"value": -1},
        },
        "on_true": {"type": "action", "node_id": "r", "action": "Release"},
        "on_false": {"type": "action", "node_id": "h", "action": "Hold"},
    }
    doc.update(
        name="castro_exp1_div0",
        scenario=str(EXPERIMENTS / "castro" / "scenarios" / "exp1.yaml"),
        initial_policies={
            "BANK_B": {
                "version": "1.0",
                "policy_id": "div0",
                "parameters": {"initial_liquidity_fraction": 0.5},
                "payment_tree": tree,
            }
        },
    )
    path = folder / "exp1_div0.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def failing_sweep(tmp_path: Path) -> Path:
    folder = tmp_path / "sweep"
    folder.mkdir()
    # the failing cell comes first: the cells after it must still run
    return write_sweep(
        folder,
        name="e2e_fail",
        experiments=[_division_by_zero_experiment(folder), CASTRO[0]],
        models=["builtin/coordinate"],
        replicates=1,
    )


def test_a_failing_cell_does_not_stop_the_others(failing_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "sweep",
        str(failing_sweep),
        "--executor",
        "local",
        "--quiet",
        f"output={out}",
        "convergence.max_iterations=2",
    ]

    first = paylab(args, cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stdout + first.stderr
    (failed_line,) = [ln for ln in first.stderr.splitlines() if ln.startswith("failed: ")]
    assert failed_line.startswith("failed: castro_exp1_div0-") and "division by zero" in failed_line
    assert "failed runs (1)" in first.stdout and "division by zero" in first.stdout  # the analyze table

    runs = {r["experiment"]: r for r in rows(out, "runs", sweep="e2e_fail", skip={})}
    bad, good = runs["castro_exp1_div0"], runs["castro_exp1"]
    assert good["status"] == "done" and good["iterations"] == 2 and good["error"] is None
    assert bad["status"] == "failed" and bad["attempt"] == 1
    assert bad["error"].startswith("SimulationError: policy BANK_B: ") and "division by zero" in bad["error"]
    assert bad["final_total_cost"] is None and bad["iterations"] in (0, None)
    status = statuses(out, "e2e_fail")
    assert status[bad["run_id"]].status == "failed" and "division by zero" in status[bad["run_id"]].error

    again = paylab(args, cwd=tmp_path)  # without --retry-failed: the failed cell is left alone
    assert again.returncode == 0, again.stderr
    assert "2 runs (1 done, 1 failed before, 0 to run)" in again.stderr
    assert rows(out, "runs", sweep="e2e_fail", skip={}) == list(runs.values())  # untouched
    assert statuses(out, "e2e_fail")[bad["run_id"]].attempt == 1

    retried = paylab([*args, "--retry-failed"], cwd=tmp_path)
    assert retried.returncode == 1, retried.stderr
    assert "2 runs (1 done, 0 failed before, 1 to run)" in retried.stderr
    after = {r["experiment"]: r for r in rows(out, "runs", sweep="e2e_fail", skip={})}
    assert after["castro_exp1_div0"]["status"] == "failed" and after["castro_exp1_div0"]["attempt"] == 2
    assert after["castro_exp1"] == good  # the done cell was not run again
    assert statuses(out, "e2e_fail")[bad["run_id"]].attempt == 2

    # analyze on this output: a bad --by or --format is one line and exit 2
    line = _one_error_line(paylab(["analyze", str(out), "--by", "scenario,nope"], cwd=tmp_path), "--by")
    assert "--by: unknown column 'nope'" in line
    _one_error_line(paylab(["analyze", str(out), "--format", "xml"], cwd=tmp_path), "--format")
