"""Sweep files: expansion counts and order, cell identity, baselines, Hydra overrides, globs."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.errors import ConfigError
from runner.experiment.config import ExperimentConfig
from sweep import RunSpec, SweepSpec, expand, load_sweep
from sweep.dry_run import describe, dry_run_table
from sweep.expand import render_value
from sweep.overrides import parse_override, split_list
from sweep.spec import check_output, check_sweep_file

ROOT = Path(__file__).resolve().parents[2]
CASTRO = ROOT / "experiments" / "castro"
DEMO = ROOT / "experiments" / "sweeps" / "demo.yaml"
COORD, NONE = "builtin/coordinate", "builtin/none"


def write_sweep(folder: Path, **body: Any) -> Path:
    """A sweep file in ``folder``; experiments default to Castro exp1 (absolute path)."""
    body.setdefault("name", "t")
    body.setdefault("experiments", [str(CASTRO / "exp1.yaml")])
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def runs_of(folder: Path, overrides: list[str] | None = None, **body: Any) -> list[RunSpec]:
    return check_sweep_file(write_sweep(folder, **body), overrides or [])[1]


def copy_experiment(dest: Path, number: int = 1) -> Path:
    """Castro exp<number> and its scenario, copied into ``dest`` (same relative layout)."""
    (dest / "scenarios").mkdir(parents=True, exist_ok=True)
    shutil.copy(CASTRO / "scenarios" / f"exp{number}.yaml", dest / "scenarios")
    return Path(shutil.copy(CASTRO / f"exp{number}.yaml", dest))


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # ``output: results`` resolves here; nothing may be written


# --------------------------------------------------------------------------- the demo sweep


def test_demo_expands_to_18_validated_runs() -> None:
    spec, runs = check_sweep_file(DEMO)
    assert isinstance(spec, SweepSpec)
    assert len(runs) == 18
    assert [r.experiment for r in runs] == [f"castro_exp{i}" for i in (1, 2, 3) for _ in range(6)]
    assert [(r.model, r.replicate) for r in runs[:6]] == [
        (COORD, 0),
        (COORD, 1),
        (COORD, 2),
        (NONE, 0),
        (NONE, 1),
        (NONE, 2),
    ]
    assert len({r.run_id for r in runs}) == 18
    assert all(r.params == {"llm.model": r.model} for r in runs)
    assert all(isinstance(r.config, ExperimentConfig) for r in runs)
    assert {r.scenario for r in runs} == {"exp1", "exp2", "exp3"}
    assert not any(r.baseline for r in runs)
    assert list(Path.cwd().iterdir()) == []


def test_run_fields(tmp_path: Path) -> None:
    run = runs_of(tmp_path, grid={"master_seed": [7]})[0]
    assert run.sweep == "t"
    assert run.experiment_path == str((CASTRO / "exp1.yaml").resolve())
    assert run.run_id == f"castro_exp1-{run.cell_key[:16]}-coordinate"
    assert len(run.cell_key) == 64
    assert run.overrides == ("master_seed=7",)
    assert run.config.master_seed == 7
    # The overrides turn the experiment file into exactly this cell's config.
    assert ExperimentConfig.from_yaml(run.experiment_path, run.overrides) == run.config
    assert pickle.loads(pickle.dumps(run)) == run  # Ray ships RunSpecs to actors


def test_dry_run_table_and_describe() -> None:
    spec, runs = check_sweep_file(DEMO)
    table = dry_run_table(runs)
    assert table.splitlines()[0].split() == ["#", "run_id", "experiment", "rep", "model", "baseline"]
    assert runs[0].run_id in table
    assert len(table.splitlines()) == 1 + 18
    text = describe(spec, runs)
    assert "sweep castro_demo" in text
    assert "replicates:  3" in text
    assert text.endswith(table + "\n18 runs (3 experiments)")  # a screenful: every cell listed


def test_table_headers_are_short_unique_suffixes(tmp_path: Path) -> None:
    runs = runs_of(
        tmp_path,
        grid={
            "scenario_overrides.cost_rates.delay_cost_per_tick_per_cent": [0.1],
            "evaluation.acceptance.rule": ["mean"],
            "convergence.max_iterations": [3],
        },
    )
    header = dry_run_table(runs).splitlines()[0].split()
    assert header[4:7] == ["delay_cost_per_tick_per_cent", "rule", "max_iterations"]


# --------------------------------------------------------------------------- counts and order


def test_grid_times_zip_times_replicates(tmp_path: Path) -> None:
    runs = runs_of(
        tmp_path,
        grid={"llm.model": [COORD, NONE], "master_seed": [1, 2, 3]},
        zip={"convergence.max_iterations": [5, 6], "evaluation.acceptance.rule": ["mean", "always"]},
        replicates=2,
    )
    assert len(runs) == 2 * 3 * 2 * 2
    expected = [
        {"llm.model": m, "master_seed": s, "convergence.max_iterations": it, "evaluation.acceptance.rule": rule}
        for m in (COORD, NONE)
        for s in (1, 2, 3)
        for it, rule in ((5, "mean"), (6, "always"))
        for _ in range(2)
    ]
    assert [r.params for r in runs] == expected
    assert [r.replicate for r in runs] == [0, 1] * 12
    assert runs[0].config.convergence.max_iterations == 5
    assert runs[2].config.evaluation.acceptance.rule == "always"


def test_empty_blocks_and_a_single_experiment_string(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nexperiments: {CASTRO / 'exp1.yaml'}\ngrid:\nzip:\nlimits:\n")
    spec, runs = check_sweep_file(path)
    assert (spec.grid, spec.zip, spec.limits.concurrency) == ({}, {}, {})
    assert [(r.experiment, r.params, r.overrides) for r in runs] == [("castro_exp1", {}, ())]


def test_expansion_is_deterministic(tmp_path: Path) -> None:
    first = check_sweep_file(DEMO)[1]
    second = check_sweep_file(DEMO)[1]
    assert [(r.run_id, r.cell_key) for r in first] == [(r.run_id, r.cell_key) for r in second]


def test_growing_a_sweep_keeps_the_existing_run_ids() -> None:
    # Resume-friendly: more replicates or another model only add runs.
    small = {r.run_id for r in check_sweep_file(DEMO, ["replicates=1", "llm.model=builtin/none"])[1]}
    large = {r.run_id for r in check_sweep_file(DEMO)[1]}
    assert len(small) == 3
    assert small < large


def test_run_ids_are_the_same_in_another_process() -> None:
    code = (
        "import json, sys; from sweep.spec import check_sweep_file; "
        "print(json.dumps([r.run_id for r in check_sweep_file(sys.argv[1])[1]]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # set/dict order must not leak into ids
    out = subprocess.run(
        [sys.executable, "-c", code, str(DEMO)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [r.run_id for r in check_sweep_file(DEMO)[1]]


# --------------------------------------------------------------------------- baseline cells


def test_baseline_added_once_per_non_model_point(tmp_path: Path) -> None:
    runs = runs_of(tmp_path, grid={"llm.model": [COORD, "openai/gpt-4.1"], "master_seed": [1, 2]}, baseline=NONE)
    assert [(r.model, r.config.master_seed, r.baseline) for r in runs] == [
        (COORD, 1, False),
        (COORD, 2, False),
        ("openai/gpt-4.1", 1, False),
        ("openai/gpt-4.1", 2, False),
        (NONE, 1, True),
        (NONE, 2, True),
    ]
    assert runs[-1].params == {"master_seed": 2, "llm.model": NONE}


def test_baseline_not_duplicated_when_grid_has_it(tmp_path: Path) -> None:
    runs = runs_of(tmp_path, grid={"llm.model": [COORD, NONE]}, baseline=NONE, replicates=2)
    assert [(r.model, r.replicate, r.baseline) for r in runs] == [
        (COORD, 0, False),
        (COORD, 1, False),
        (NONE, 0, True),
        (NONE, 1, True),
    ]


def test_baseline_without_model_axis_adds_model_to_params(tmp_path: Path) -> None:
    runs = runs_of(tmp_path, experiments=[str(CASTRO / "exp1.yaml"), str(CASTRO / "exp3.yaml")], baseline=NONE)
    assert [(r.experiment, r.model, r.baseline) for r in runs] == [
        ("castro_exp1", COORD, False),
        ("castro_exp1", NONE, True),
        ("castro_exp3", COORD, False),
        ("castro_exp3", NONE, True),
    ]
    assert [r.params for r in runs[:2]] == [{"llm.model": COORD}, {"llm.model": NONE}]
    assert runs[0].overrides == ()  # the file's own model is not an override


def test_baseline_is_replicated_for_paired_comparisons(tmp_path: Path) -> None:
    runs = runs_of(tmp_path, baseline=NONE, replicates=3)
    assert [(r.model, r.replicate) for r in runs if r.baseline] == [(NONE, 0), (NONE, 1), (NONE, 2)]


# --------------------------------------------------------------------------- identity


def test_key_changes_with_the_varied_value_and_the_replicate(tmp_path: Path) -> None:
    runs = runs_of(tmp_path, grid={"master_seed": [1, 2]}, replicates=2)
    assert len({r.cell_key for r in runs}) == 4


def test_identical_cells_are_dropped_keeping_the_first(tmp_path: Path) -> None:
    runs = runs_of(tmp_path, grid={"master_seed": [5, 6, 5]})
    assert [r.params["master_seed"] for r in runs] == [5, 6]
    # Setting a scenario value to what the file already has is the same cell.
    runs = runs_of(tmp_path, grid={"scenario_overrides.cost_rates.delay_cost_per_tick_per_cent": [0.2, 0.3, 0.2]})
    assert [r.params for r in runs] == [
        {"scenario_overrides.cost_rates.delay_cost_per_tick_per_cent": v} for v in (0.2, 0.3)
    ]
    assert runs[0].cell_key == runs_of(tmp_path)[0].cell_key


def test_key_ignores_the_sweep_name(tmp_path: Path) -> None:
    a = runs_of(tmp_path, name="a", grid={"llm.model": [COORD, NONE]})
    b = runs_of(tmp_path, name="b", grid={"llm.model": [COORD, NONE]})
    assert [r.run_id for r in a] == [r.run_id for r in b]
    assert {r.sweep for r in a} == {"a"}


def test_key_follows_scenario_content_not_paths(tmp_path: Path) -> None:
    first = copy_experiment(tmp_path / "a")
    moved = copy_experiment(tmp_path / "b" / "deeper")
    key = runs_of(tmp_path, experiments=[str(first)])[0].cell_key
    assert runs_of(tmp_path, experiments=[str(moved)])[0].cell_key == key

    scenario = tmp_path / "a" / "scenarios" / "exp1.yaml"
    text = scenario.read_text()
    scenario.write_text("# a comment changes nothing\n" + text)
    assert runs_of(tmp_path, experiments=[str(first)])[0].cell_key == key
    scenario.write_text(text.replace("delay_cost_per_tick_per_cent: 0.2", "delay_cost_per_tick_per_cent: 0.3"))
    assert runs_of(tmp_path, experiments=[str(first)])[0].cell_key != key


def test_key_follows_the_experiment_content(tmp_path: Path) -> None:
    path = copy_experiment(tmp_path / "a")
    key = runs_of(tmp_path, experiments=[str(path)])[0].cell_key
    path.write_text(path.read_text().replace("temperature: 0.5", "temperature: 0.7"))
    assert runs_of(tmp_path, experiments=[str(path)])[0].cell_key != key


# --------------------------------------------------------------------------- experiments


def test_glob_experiments_sorted_and_listed_once(tmp_path: Path) -> None:
    for n in (3, 1, 2):
        copy_experiment(tmp_path / "exps", n)
    runs = runs_of(tmp_path, experiments=["exps/exp1.yaml", "exps/exp*.yaml"])
    assert [r.experiment for r in runs] == ["castro_exp1", "castro_exp2", "castro_exp3"]
    absolute = runs_of(tmp_path, experiments=str(CASTRO / "exp*.yaml"))
    assert [r.experiment for r in absolute] == ["castro_exp1", "castro_exp2", "castro_exp3"]


def test_experiment_paths_also_resolve_from_parent_folders(tmp_path: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, experiments=["experiments/castro/exp2.yaml"]))
    runs = expand(spec, ROOT / "experiments" / "sweeps")
    assert runs[0].experiment_path == str(CASTRO / "exp2.yaml")


# --------------------------------------------------------------------------- overrides


def test_hydra_overrides(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid={"llm.model": [COORD]}, limits={"max_runs_in_flight": 2})
    spec = load_sweep(
        path,
        [
            "llm.model=builtin/none,builtin/coordinate",  # replaces the axis, keeps its place
            "master_seed=range(3)",  # a new axis
            "evaluation.acceptance.rule=always",  # one value: a one-value axis
            "zip.convergence.max_iterations=choice(4,5)",
            "replicates=5",
            "name=renamed",
            "output=out/here",
            "baseline=builtin/none",
            "limits.max_runs_in_flight=4",
            "limits.concurrency.openai/gpt-4.1*=3",
            "limits.llm_budget_usd=12.5",
        ],
    )
    assert spec.grid == {"llm.model": [NONE, COORD], "master_seed": [0, 1, 2], "evaluation.acceptance.rule": ["always"]}
    assert spec.zip == {"convergence.max_iterations": [4, 5]}
    assert (spec.replicates, spec.name, spec.output, spec.baseline) == (5, "renamed", "out/here", NONE)
    assert spec.limits.max_runs_in_flight == 4
    assert spec.limits.concurrency == {"openai/gpt-4.1*": 3}
    assert spec.limits.llm_budget_usd == 12.5
    assert len(expand(spec)) == 2 * 3 * 1 * 2 * 5


def test_override_experiments_and_ranges(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    spec = load_sweep(path, [f"experiments={CASTRO / 'exp1.yaml'},{CASTRO / 'exp3.yaml'}", "master_seed=range(1,7,2)"])
    assert spec.experiments == (str(CASTRO / "exp1.yaml"), str(CASTRO / "exp3.yaml"))
    assert spec.grid == {"master_seed": [1, 3, 5]}
    assert load_sweep(path, ["grid.name=x,y"]).grid == {"name": ["x", "y"]}


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("k=1", (1,)),
        ("k=0.1,2,x", (0.1, 2, "x")),
        ("k=[1,2],[3]", ([1, 2], [3])),
        ("k={a: 1, b: 2}", ({"a": 1, "b": 2},)),
        ("k='a,b',c", ("a,b", "c")),
        (r"k=a\,b", ("a,b",)),
        ("k=range(2,4)", (2, 3)),
        ("k=range(5,0,-2)", (5, 3, 1)),
        ("k=null", (None,)),
        ("k=openai/gpt-4.1", ("openai/gpt-4.1",)),
    ],
)
def test_parse_override_values(text: str, values: tuple[Any, ...]) -> None:
    assert parse_override(text).values == values


def test_split_list_keeps_brackets_and_quotes() -> None:
    assert split_list('a,"b,c",[d,e],{f: g, h: i},(j,k)') == ["a", '"b,c"', "[d,e]", "{f: g, h: i}", "(j,k)"]


# --------------------------------------------------------------------------- values and output


@pytest.mark.parametrize(
    "value",
    [
        "builtin/none",
        "yes",
        "1",
        "a,b",
        "multi\nline",
        "",
        0.1,
        1e-05,
        1,
        1.0,
        True,
        None,
        [1, "a"],
        {"b": [1.5], "a": None},
    ],
)
def test_render_value_round_trips(value: Any) -> None:
    text = render_value(value)
    back = yaml.safe_load(text)
    assert json.dumps(back) == json.dumps(value)


def test_output_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path / "..", output="res/a"))
    assert spec.output_location() == str((tmp_path / "res" / "a").resolve())
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("uri", ["s3://bucket/prefix", "gs://bucket/x", "file:///tmp/x"])
def test_output_uris_are_kept_as_given(tmp_path: Path, uri: str) -> None:
    spec = load_sweep(write_sweep(tmp_path, output=uri))
    assert spec.output_location() == uri


def test_output_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "existing").mkdir()
    for output in ("existing", "new/deeper", f"file://{tmp_path}/viauri"):
        check_output(load_sweep(write_sweep(tmp_path, output=output)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "sweep.yaml"]
    assert list((tmp_path / "existing").iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_output_folder_is_rejected(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match="output: cannot create folders in"):
            load_sweep(write_sweep(tmp_path, output="locked/results"))
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("kind", ["folder", "fifo", "missing"])
def test_an_experiment_entry_that_is_no_file_says_what_it_is(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "exp.yaml"
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text("name: s\nexperiments: [exp.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        check_sweep_file(sweep_file)
    words = {
        "folder": "is a folder, not an experiment file",
        "fifo": "is not a regular file (a FIFO, device or socket)",
        "missing": "not found",
    }[kind]
    assert caught.value.path == "experiments[0]" and words in str(caught.value)
