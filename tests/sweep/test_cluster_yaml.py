"""cluster.yaml is a valid Ray cluster-launcher file that installs this project; sweep_entry.py
is the importable, side-effect-free script ``ray submit`` runs.

Validation is offline: the JSON schema shipped with the installed Ray
(``ray/autoscaler/ray-schema.json``) and, when available, the checks ``ray up`` runs before
it contacts the cloud (defaults filled in, then validated).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster.yaml"
ENTRY = ROOT / "sweep_entry.py"
SCHEMA = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
REQUIRED = ("cluster_name", "provider", "available_node_types", "head_node_type",
            "setup_commands", "head_start_ray_commands", "worker_start_ray_commands")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded = yaml.safe_load(CLUSTER.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_has_the_launcher_structure(config: dict[str, Any]) -> None:
    missing = [key for key in REQUIRED if key not in config]
    assert not missing, f"cluster.yaml lacks {missing}"
    assert config["provider"]["type"] == "aws" and config["provider"]["region"]
    nodes = config["available_node_types"]
    assert config["head_node_type"] in nodes
    workers = [n for name, n in nodes.items() if name != config["head_node_type"]]
    assert workers, "no worker node type"
    for node in nodes.values():
        assert "resources" in node and node["node_config"]["InstanceType"]
    for worker in workers:
        assert 0 <= worker["min_workers"] <= worker["max_workers"] <= config["max_workers"]


def test_matches_the_schema_of_the_installed_ray(config: dict[str, Any]) -> None:
    if not SCHEMA.is_file():
        pytest.skip(f"this Ray ships no {SCHEMA.name}; the structure test covers the keys")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(config, json.loads(SCHEMA.read_text()))


def test_passes_ray_up_validation(config: dict[str, Any]) -> None:
    try:
        from ray.autoscaler._private.util import prepare_config, validate_config
    except ImportError:  # private API: absent or moved in another Ray version
        pytest.skip("ray.autoscaler._private.util.prepare_config is not available")
    validate_config(prepare_config(copy.deepcopy(config)))  # defaults filled as `ray up` does; no cloud call


def test_setup_installs_this_project_and_the_client_ray_version(config: dict[str, Any]) -> None:
    assert config["file_mounts"] == {"~/paylab": "."}
    setup = "\n".join(config["setup_commands"])
    assert re.search(r"python3 -m venv (\S+)", setup)
    assert re.search(r"pip install .*-e ~/paylab\b", setup)
    pinned = re.search(r'"ray\[default\]==([^"]+)"', setup)
    assert pinned and pinned.group(1) == ray.__version__
    head = "\n".join(config["head_start_ray_commands"])
    assert "ray start --head --port=6379" in head
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert "--address=$RAY_HEAD_IP:6379" in "\n".join(config["worker_start_ray_commands"])


def test_the_run_commands_in_the_comments_name_files_that_exist() -> None:
    text = CLUSTER.read_text()
    assert "ray submit cluster.yaml sweep_entry.py -- experiments/sweeps/demo.yaml" in text
    assert "ray job submit --address http://127.0.0.1:8265 --working-dir . --" in text
    assert (ROOT / "experiments" / "sweeps" / "demo.yaml").is_file()


def _import_entry() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sweep_entry_under_test", ENTRY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_entry_imports_without_side_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["pytest", "--not-for-the-entry-script"])
    cwd = os.getcwd()
    before = set(sys.modules)
    entry = _import_entry()
    assert os.getcwd() == cwd
    assert not {m for m in set(sys.modules) - before if m.startswith(("runner", "sweep."))}
    assert callable(entry.main)


def test_sweep_entry_joins_the_cluster() -> None:
    entry = _import_entry()
    assert entry.sweep_argv(["S.yaml", "llm.model=a,b"]) == [
        "sweep", "S.yaml", "llm.model=a,b", "--address", "auto"]
    assert entry.sweep_argv(["S.yaml", "--address", "ray://head:10001"]) == [
        "sweep", "S.yaml", "--address", "ray://head:10001"]


def test_sweep_entry_runs_paylab_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # not the home folder: the script stays where it is
    entry = _import_entry()
    sweep = ROOT / "experiments" / "sweeps" / "demo.yaml"
    entry.main([str(sweep), "replicates=1", "--dry-run"])
    out = capsys.readouterr().out
    assert "6 runs (3 experiments)" in out
    assert Path.cwd() == tmp_path
