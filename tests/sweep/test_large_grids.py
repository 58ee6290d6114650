"""Large grids: expansion streams, keys are unchanged, the cell limit and range() bound hold,
the dry run summarises past a screenful, ``--out`` is the ``output=`` override."""

from __future__ import annotations

import subprocess
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import ConfigError
from runner.experiment.config import ExperimentConfig
from sweep.cell_key import CellContent, ScenarioPart, cell_key, resolved_content
from sweep.dry_run import SCREENFUL, SHOWN, DryRunSummary, describe
from sweep.expand import count_runs, expand, iter_runs
from sweep.overrides import MAX_RANGE_VALUES, parse_override
from sweep.spec import DEFAULT_MAX_CELLS, check_sweep_file, load_sweep
from tests.sweep.helpers_e2e import PAYLAB
from tests.sweep.test_spec import CASTRO, COORD, NONE, write_sweep

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    experiment=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    scenario=st.dictionaries(
        st.sampled_from(["scenario", "policies", "a", "zz", "replicatf"]), json_values, max_size=3
    ),
    replicates=st.integers(1, 12),
)
def test_cell_content_keys_are_cell_key(experiment: dict[str, Any], scenario: dict[str, Any], replicates: int) -> None:
    """The per-replicate keys hashed from one serialisation are `cell_key` of the content,
    whatever its keys (before and after "replicate" in sorted order) and values."""
    content = CellContent.of(experiment, ScenarioPart.of(scenario))
    assert list(content.keys(replicates)) == [cell_key(content.content, r) for r in range(replicates)]


def test_expanded_cells_equal_their_overrides_applied_one_by_one(tmp_path: Path) -> None:
    """Every cell (grid × zip, a baseline, replicates) is the config its overrides make from
    the file, checked the slow way, and its key is that of its content computed afresh."""
    runs = check_sweep_file(
        write_sweep(
            tmp_path,
            experiments=[str(CASTRO / "exp1.yaml"), str(CASTRO / "exp2.yaml")],
            grid={"llm.model": [COORD], "scenario_overrides.cost_rates.delay_cost_per_tick_per_cent": [0.1, 0.3]},
            zip={"master_seed": [1, 2], "evaluation.num_samples": [5, 6]},
            baseline=NONE,
            replicates=2,
        )
    )[1]
    assert len(runs) == 2 * (2 * 2 + 2 * 2) * 2
    for run in runs:
        config = ExperimentConfig.from_yaml(run.experiment_path, run.overrides)
        assert config == run.config
        assert run.cell_key == cell_key(resolved_content(config).content, run.replicate)
    assert [r.run_id for r in runs] == [r.run_id for r in iter_runs(load_sweep(tmp_path / "sweep.yaml"))]


def test_a_100000_cell_dry_run_holds_no_list_of_cells(tmp_path: Path) -> None:
    """100 000 runs (1 000 distinct configs × 100 replicates) streamed into the dry-run
    summary: the peak of Python allocations stays far below what 100 000 runs held at
    once take (a list of them would hold 1 000 configs and 100 000 RunSpecs)."""
    spec = load_sweep(write_sweep(tmp_path, grid={"master_seed": list(range(1_000))}, replicates=100))
    assert count_runs(spec, 1) == 100_000 == DEFAULT_MAX_CELLS
    tracemalloc.start()
    try:
        summary = DryRunSummary.of(iter_runs(spec))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.count == 100_000 and len(summary.values["master_seed"]) == 1_000
    assert peak < 40 * 2**20, f"streaming peak {peak / 2**20:.0f} MiB"


def test_a_sweep_past_the_cell_limit_is_refused_before_expanding(tmp_path: Path) -> None:
    axis = list(range(1_000))  # 1 000^4 = 10^12 cells: refused from the axis lengths alone
    spec = load_sweep(
        write_sweep(
            tmp_path,
            grid={
                "master_seed": axis,
                "evaluation.num_samples": axis,
                "evaluation.reference_samples": axis,
                "convergence.max_iterations": axis,
            },
        )
    )
    with pytest.raises(ConfigError) as err:
        next(iter_runs(spec))
    line = err.value.one_line()
    assert "\n" not in line and "sweep.yaml" in line
    assert "1,000,000,000,000 runs" in line and "limits.max_cells" in line and "100,000" in line


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ({"grid": {"master_seed": list(range(11))}, "replicates": 10}, 110),
        ({"grid": {"llm.model": [COORD, NONE], "master_seed": [1, 2, 3]}, "baseline": NONE, "replicates": 2}, 18),
        ({"zip": {"master_seed": [1, 2], "evaluation.num_samples": [5, 6]}, "baseline": NONE}, 4),
    ],
)
def test_the_limit_is_counted_before_deduplication(tmp_path: Path, body: dict[str, Any], count: int) -> None:
    spec = load_sweep(write_sweep(tmp_path, **body), [f"limits.max_cells={count}"])
    assert count_runs(spec, 1) == count
    assert len(expand(spec)) <= count
    with pytest.raises(ConfigError, match=f"would expand to {count} runs"):
        expand(load_sweep(tmp_path / "sweep.yaml", [f"limits.max_cells={count - 1}"]))


def test_range_overrides_are_bounded_without_being_made() -> None:
    assert len(parse_override(f"k=range({MAX_RANGE_VALUES})").values) == MAX_RANGE_VALUES
    for text in (f"k=range({MAX_RANGE_VALUES + 1})", "k=range(0,1000000000000000)", "k=range(10**12)"):
        with pytest.raises(ConfigError) as err:
            parse_override(text)
        assert "\n" not in err.value.one_line()
    with pytest.raises(ConfigError, match="1,000,000,000,000 values"):
        parse_override("k=range(1000000000000)")


def test_dry_run_past_a_screenful_shows_the_ends_and_counts_per_value(tmp_path: Path) -> None:
    spec, runs = check_sweep_file(
        write_sweep(tmp_path, grid={"llm.model": [COORD, NONE], "master_seed": list(range(30))}, replicates=2)
    )
    assert len(runs) == 120 > SCREENFUL
    text = describe(spec, iter(runs))
    lines = text.splitlines()
    shown = [line for line in lines if line.split(" ", 1)[0].isdigit() and "castro_exp1" in line]
    assert [line.split()[0] for line in shown] == [str(i) for i in [*range(1, SHOWN + 1), *range(111, 121)]]
    assert runs[0].run_id in text and runs[-1].run_id in text and runs[SHOWN].run_id not in text
    assert f"… {120 - 2 * SHOWN} more cells …" in text
    assert f"llm.model: {COORD} ×60, {NONE} ×60" in text
    assert "master_seed: 0 ×4, 1 ×4" in text and "… 22 more values (30 in all)" in text
    assert lines[-1] == "120 runs (1 experiment)"
    small = describe(spec, iter(runs[:SCREENFUL]))
    assert "more cells" not in small and all(r.run_id in small for r in runs[:SCREENFUL])


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PAYLAB), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_cli_refuses_a_sweep_past_the_limit_in_one_line(tmp_path: Path) -> None:
    write_sweep(tmp_path, grid={"master_seed": list(range(1_000))}, replicates=101)
    done = run_cli(["sweep", "sweep.yaml", "--dry-run"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "101,000 runs" in done.stderr, done.stderr
    done = run_cli(["sweep", "sweep.yaml", "master_seed=range(100000000000)"], tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_out_is_the_output_override(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, output="from_file")
    assert load_sweep(path, [], "a,b c").output == "a,b c"  # any folder name, not a YAML list
    assert load_sweep(path, ["output=other"], str(tmp_path / "x")).output_location() == str(tmp_path / "x")
    assert load_sweep(path, ["output=other"]).output_location() == load_sweep(path, [], "other").output_location()
    (tmp_path / "file").write_text("")
    for bad in (str(tmp_path / "file" / "sub"), "ftp://host/x"):
        by_override = run_cli(["sweep", "sweep.yaml", "--dry-run", f"output={bad}"], tmp_path)
        by_option = run_cli(["sweep", "sweep.yaml", "--dry-run", "--out", bad], tmp_path)
        assert by_option.returncode == by_override.returncode == 2
        assert by_option.stderr == by_override.stderr and len(by_option.stderr.strip().splitlines()) == 1


def test_cli_out_runs_the_sweep_there(tmp_path: Path) -> None:
    write_sweep(tmp_path, output="from_file", grid={"convergence.max_iterations": [1]})
    done = run_cli(["sweep", "sweep.yaml", "--executor", "local", "--quiet", "--out", "there"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "there" / "runs").is_dir() and not (tmp_path / "from_file").exists()
    assert "exp1" in run_cli(["analyze", "there"], tmp_path).stdout
