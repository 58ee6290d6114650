"""Malformed sweep files and overrides fail up front with one line: file, cell/field, reason.

Every file under tests/data/bad_sweeps/ says in its first comment what is wrong with it. Each
case goes through `load_sweep` + `expand` and through `check_sweep_file` (what ``paylab sweep
--dry-run`` calls), and must leave the working directory (where ``output`` points) empty.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ConfigError
from sweep import expand, load_sweep
from sweep.spec import check_sweep_file

BAD = Path(__file__).resolve().parents[1] / "data" / "bad_sweeps"
DEMO = Path(__file__).resolve().parents[2] / "experiments" / "sweeps" / "demo.yaml"

# file → fragments the one-line message must contain (besides the file name).
CASES: dict[str, list[str]] = {
    "unknown_top_key.yaml": ["grids: unknown key", "did you mean 'grid'"],
    "unknown_limits_key.yaml": ["limits.max_runs: unknown key", "max_runs_in_flight"],
    "empty_axis.yaml": ["grid.llm.model: must have at least 1 item"],
    "axis_not_a_list.yaml": ["grid.llm.model: must be a list"],
    "unknown_experiment_key.yaml": [
        "cell experiments/castro/exp1.yaml {evaluation.nope: 1}: evaluation.nope: unknown key"
    ],
    "invalid_value.yaml": [
        "cell experiments/castro/exp2.yaml {evaluation.num_samples: 0}: evaluation.num_samples: must be >= 1, got 0"
    ],
    "invalid_scenario_override.yaml": [
        "{scenario_overrides.cost_rates.delay_cost_per_tick_per_cent: -1}",
        ": scenario_overrides.cost_rates.delay_cost_per_tick_per_cent: must be >= 0",
    ],
    "unknown_model.yaml": ["{llm.model: builtin/random}: llm.model: unknown builtin proposer"],
    "zip_lengths.yaml": ["zip: lists must have the same length", "master_seed: 2, convergence.max_iterations: 3"],
    "grid_and_zip.yaml": ["zip: 'master_seed' is also varied in grid"],
    "zero_replicates.yaml": ["replicates: must be >= 1, got 0"],
    "no_experiments.yaml": ["experiments: must have at least 1 item"],
    "glob_matches_nothing.yaml": ["experiments[0]: pattern 'experiments/castro/nothing*.yaml' matches no file"],
    "missing_experiment.yaml": ["experiments[1]: file 'experiments/castro/exp9.yaml' not found"],
    "bad_experiment_file.yaml": ["cell ../bad_experiments/bad_mode.yaml: evaluation.mode: must be", "got 'montecarlo'"],
    "output_under_proc.yaml": ["output: cannot create folders in '/proc'", "not writable"],
    "output_is_a_file.yaml": ["output: '/dev/null' is not a folder"],
    "output_bad_scheme.yaml": ["output: unsupported filesystem URI scheme 'ftp'"],
    "baseline_unknown_builtin.yaml": ["baseline: unknown builtin proposer 'builtin/nothing'"],
    "baseline_not_a_model.yaml": ["baseline: must look like provider/name", "got 'none'"],
    "bad_name.yaml": ["name: must be made of letters", "got 'castro models'"],
    "nested_axes.yaml": ["'evaluation.mode' lies inside 'evaluation'"],
    "not_a_mapping.yaml": ["the top level must be a YAML mapping"],
}

# (overrides on the demo sweep) → fragments of the message.
BAD_OVERRIDES: list[tuple[list[str], list[str]]] = [
    (["llm.model="], ["override 'llm.model=': empty value"]),
    (["master_seed=range(x)"], ["override 'master_seed=range(x)'", "range() takes 1 to 3 integers"]),
    (["master_seed=range(1,5,0)"], ["step must not be 0"]),
    (["master_seed=range(0)"], ["range(0) is empty"]),
    (["llm.model=builtin/none,,builtin/coordinate"], ["empty item in the comma list"]),
    (["replicates"], ["override 'replicates': must look like KEY=VALUE"]),
    (["replicates=1,2"], ["replicates takes one value, got 2"]),
    (["replicates=0"], ["replicates: must be >= 1, got 0"]),
    (["a..b=1"], ["'a..b' is not a dotted key"]),
    (["name=[x"], ["value '[x' is not valid YAML"]),
    (["limits.nope=3"], ["limits.nope: unknown key"]),
    (["zip.llm.model=builtin/none"], ["'llm.model' is varied in grid; override it as grid.llm.model"]),
    (["llm.model=builtin/bogus"], ["{llm.model: builtin/bogus}: llm.model: unknown builtin"]),
    (["evaluation.world=moon"], ["evaluation.world: must be 'sandbox' or 'full', got 'moon'"]),
    (["baseline=builtin/nothing"], ["baseline: unknown builtin proposer"]),
]


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ``output`` is relative to the cwd: a failed check must leave nothing there.
    monkeypatch.chdir(tmp_path)


def _error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        check_sweep_file(path, overrides or [])
    via_check = str(caught.value)
    with pytest.raises(ConfigError) as caught:
        spec = load_sweep(path, overrides or [])
        expand(spec, path.parent)
    assert str(caught.value) == via_check, "check_sweep_file must report what load+expand report"
    return via_check


def test_every_case_file_is_listed_and_documented() -> None:
    files = sorted(p.name for p in BAD.glob("*.yaml"))
    assert files == sorted(CASES)
    for name in files:
        first = (BAD / name).read_text().splitlines()[0]
        assert first.startswith("# WRONG: "), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_sweep_file(name: str, tmp_path: Path) -> None:
    if name == "output_under_proc.yaml" and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    message = _error(BAD / name)
    assert "\n" not in message
    assert message.startswith(f"{BAD / name}: "), message
    for fragment in CASES[name]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("overrides", "fragments"), BAD_OVERRIDES, ids=[" ".join(o) for o, _ in BAD_OVERRIDES])
def test_bad_override(overrides: list[str], fragments: list[str], tmp_path: Path) -> None:
    message = _error(DEMO, overrides)
    assert "\n" not in message
    assert message.startswith(f"{DEMO}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert list(tmp_path.iterdir()) == []


def test_cell_error_names_every_varied_parameter(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        f"name: s\nexperiments: [{DEMO.parents[1] / 'castro' / 'exp2.yaml'}]\n"
        "grid:\n  llm.model: [builtin/none]\n  evaluation.world: [full, moon]\n"
    )
    message = _error(sweep)
    assert ": cell " in message
    assert "{llm.model: builtin/none, evaluation.world: moon}: evaluation.world:" in message
