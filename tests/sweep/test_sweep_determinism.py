"""The three executors give the same result tables (docs/sweeps.md, "Running: executors").

A sweep runs through the real CLI with ``--executor local``, with a Ray of one CPU and a
pool of one run actor, and with a Ray of two CPUs and a pool of two run actors
(``limits.max_runs_in_flight``), into three output folders. To fit the time budget the Ray
sweep is the stochastic part of the small sweep: Castro exp2 (bootstrap evaluation) ×
{coordinate, none} × 2 replicates = 4 runs, so the one actor runs all four one after
another and each of the two runs two: whatever a reused actor keeps from its previous runs
must not change a number. The Ray runs also split bootstrap evaluations into remote tasks
of 4 and of 7 samples (10 samples and 20 reference samples per evaluation: uneven chunks),
which must not change a single number either.

Compared: every row of runs, iterations, proposals, samples, llm_calls and events as
`ResultStore.read` returns them, except the wall-clock columns (`helpers_e2e.WALL_CLOCK`):
``runs.started_at``, ``runs.finished_at`` and ``runs.duration_s`` (when the run happened and
how long it took) and ``llm_calls.latency_s`` (and ``latency_seconds`` inside the events'
``llm_interaction`` payloads: how long a provider took to answer). Nothing else may differ:
no cost, seed, policy, event sequence number or payload, nor the run's attempt.
``paylab analyze OUT`` must print the same table for all three.

The same cells are also part of the full 12-run small sweep (the session's local reference):
a cell's rows do not depend on which other cells its sweep has.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.spec import check_sweep_file
from tests.sweep.helpers_e2e import (
    CASTRO,
    SMALL_OVERRIDES,
    assert_finished_cleanly,
    assert_same_tables,
    ray_env,
    rows,
    run_ok,
    sweep_args,
    write_sweep,
)

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_local_and_ray_executors_write_identical_tables(local_reference: Path, ray_tmp: Path, tmp_path: Path) -> None:
    sweep_file = write_sweep(tmp_path, experiments=[CASTRO[1]])  # exp2 only
    _, cells = check_sweep_file(sweep_file, [*SMALL_OVERRIDES, f"output={tmp_path}"])
    run_ids = [c.run_id for c in cells]
    assert len(run_ids) == 4

    outputs = {"local": tmp_path / "local"}
    run_ok(sweep_args(sweep_file, outputs["local"], "--executor", "local"), cwd=tmp_path)
    for cpus, chunk in (("1", "4"), ("2", "7")):
        outputs[f"ray{cpus}"] = tmp_path / f"ray{cpus}"
        run_ok(
            sweep_args(
                sweep_file,
                outputs[f"ray{cpus}"],
                "--num-cpus",
                cpus,
                "--chunk-size",
                chunk,
                overrides=[*SMALL_OVERRIDES, f"limits.max_runs_in_flight={cpus}"],
            ),
            cwd=tmp_path,
            env=ray_env(ray_tmp),
            timeout=300,
        )
    for out in outputs.values():
        assert_finished_cleanly(out, len(run_ids))

    local = outputs["local"]
    for name in ("ray1", "ray2"):
        counts = assert_same_tables(outputs[name], local)
        assert counts["runs"] == 4 and counts["iterations"] > 0 and counts["proposals"] > 0
        assert counts["samples"] > 0 and counts["events"] > 0
        assert counts["llm_calls"] == 0  # offline proposers: no LLM, so no latency to exclude
        # events payload by payload, nothing excluded (offline streams carry no timing)
        assert rows(outputs[name], "events", skip={}) == rows(local, "events", skip={})
    assert_same_tables(local, local_reference, run_ids=run_ids)  # same cells, bigger sweep

    # what is compared is not vacuous: all done at the first attempt, replicates differ
    runs = rows(local, "runs")
    assert {r["status"] for r in runs} == {"done"} and {r["attempt"] for r in runs} == {1}
    optimised = {r["final_total_cost"] for r in runs if r["model"] == "builtin/coordinate"}
    assert len(optimised) == 2, "the two replicates of exp2 should be different days"

    printed = {name: run_ok(["analyze", str(out)], cwd=tmp_path).stdout for name, out in outputs.items()}
    assert "exp2" in printed["local"] and "builtin/coordinate" in printed["local"], printed["local"]
    assert printed["ray1"] == printed["local"]
    assert printed["ray2"] == printed["local"]
