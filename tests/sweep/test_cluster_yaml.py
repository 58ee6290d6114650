"""cluster.yaml (AWS) and cluster-local.yaml (on-prem) are valid Ray cluster-launcher files that
install this project alike, with or without sudo; sweep_entry.py is the importable,
side-effect-free script ``ray submit`` runs. (tests/sweep/test_onprem_cluster.py runs
cluster-local.yaml for real.)

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
import subprocess
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
REQUIRED = (
    "cluster_name",
    "provider",
    "available_node_types",
    "head_node_type",
    "setup_commands",
    "head_start_ray_commands",
    "worker_start_ray_commands",
)


def load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load(CLUSTER)


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
    assert entry.sweep_argv(["S.yaml", "llm.model=a,b"]) == ["sweep", "S.yaml", "llm.model=a,b", "--address", "auto"]
    assert entry.sweep_argv(["S.yaml", "--address", "ray://head:10001"]) == [
        "sweep",
        "S.yaml",
        "--address",
        "ray://head:10001",
    ]


def test_sweep_entry_runs_paylab_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # not the home folder: the script stays where it is
    entry = _import_entry()
    sweep = ROOT / "experiments" / "sweeps" / "demo.yaml"
    entry.main([str(sweep), "replicates=1", "--dry-run"])
    out = capsys.readouterr().out
    assert "6 runs (3 experiments)" in out
    assert Path.cwd() == tmp_path


# ------------------------------------------------------------------ cluster-local.yaml (on-prem)
LOCAL = ROOT / "cluster-local.yaml"
ON_PREM_REFUSED = ("available_node_types", "head_node_type", "head_node", "worker_nodes")


@pytest.fixture(scope="module")
def local_config() -> dict[str, Any]:
    return load(LOCAL)


def test_local_file_is_an_on_prem_launcher_file(local_config: dict[str, Any]) -> None:
    provider = local_config["provider"]
    assert provider["type"] == "local" and provider["head_ip"] and isinstance(provider["worker_ips"], list)
    assert local_config["max_workers"] == len(provider["worker_ips"])
    assert not [key for key in ON_PREM_REFUSED if key in local_config]  # `ray up` aborts on them
    assert local_config["auth"]["ssh_user"] and local_config["auth"]["ssh_private_key"]
    commands = [c for key, value in local_config.items() if key.endswith("_commands") for c in value]
    assert not [c for c in commands if "boto3" in c]  # the AWS autoscaler's dependency
    assert local_config["file_mounts"] == {"~/paylab": ".", "~/.ray/auth_token": "~/.ray/auth_token"}
    assert "ray submit cluster-local.yaml sweep_entry.py -- experiments/sweeps/demo.yaml" in LOCAL.read_text()


def test_local_file_matches_the_schema_and_passes_ray_up_validation(local_config: dict[str, Any]) -> None:
    if SCHEMA.is_file():
        jsonschema = pytest.importorskip("jsonschema")
        jsonschema.validate(local_config, json.loads(SCHEMA.read_text()))
    try:
        from ray.autoscaler._private.util import prepare_config, validate_config
    except ImportError:
        pytest.skip("ray.autoscaler._private.util.prepare_config is not available")
    prepared = prepare_config(copy.deepcopy(local_config))  # the local provider's own checks
    validate_config(prepared)
    n = len(local_config["provider"]["worker_ips"])
    (node_type,) = prepared["available_node_types"].values()
    assert node_type["min_workers"] == node_type["max_workers"] == n


def test_both_files_set_nodes_up_alike(config: dict[str, Any], local_config: dict[str, Any]) -> None:
    assert local_config["setup_commands"] == config["setup_commands"]
    mounts = {k: v for k, v in local_config["file_mounts"].items() if k != "~/.ray/auth_token"}
    assert mounts == config["file_mounts"]
    for key in ("rsync_exclude", "rsync_filter"):
        assert local_config[key] == config[key]
    commands = [
        c for cfg in (config, local_config) for key, value in cfg.items() if key.endswith("_commands") for c in value
    ]
    assert not [c for c in commands if re.search(r"(^|[;&|{(]\s*)sudo\b", c)], "sudo only through $SUDO"


FAKE_TOOLS = {
    # python3 -m venv --clear DIR: fails until python3-venv is "installed", then makes DIR/bin/pip.
    "python3": '[ -f "$STATE/installed" ] || { echo "python3 $*" >> "$STATE/log"; exit 1; }\n'
    'echo "python3 $*" >> "$STATE/log"; /bin/mkdir -p "$4/bin" && : > "$4/bin/pip"\n'
    '/bin/chmod +x "$4/bin/pip"',
    "apt-get": 'echo "apt-get $*" >> "$STATE/log"; case "$*" in *install*) : > "$STATE/installed";; esac',
    "sudo": 'echo "sudo" >> "$STATE/log"; exec "$@"',
}


@pytest.mark.parametrize("has_sudo", [False, True], ids=["root-without-sudo", "with-sudo"])
def test_the_venv_step_installs_python3_venv_only_where_missing(tmp_path: Path, has_sudo: bool) -> None:
    """The committed first setup command, run by bash with stand-in tools on PATH (no other
    PATH: a real sudo or apt-get must not be reached): venv made directly when python3 can;
    else python3-venv installed — through sudo when there is one — then the venv made."""
    venv_step = yaml.safe_load(LOCAL.read_text())["setup_commands"][0]
    bin_dir, state, home = tmp_path / "bin", tmp_path / "state", tmp_path / "home"
    for folder in (bin_dir, state, home):
        folder.mkdir()
    for name, body in FAKE_TOOLS.items():
        if name != "sudo" or has_sudo:
            (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
            (bin_dir / name).chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(home), "STATE": str(state)}

    def run() -> list[str]:
        (state / "log").write_text("")
        done = subprocess.run(
            ["/bin/bash", "-c", venv_step], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return (state / "log").read_text().splitlines()

    venv = home / "paylab-venv"
    sudo = ["sudo"] if has_sudo else []
    assert run() == [
        f"python3 -m venv --clear {venv}",
        *sudo,
        "apt-get -o DPkg::Lock::Timeout=600 update -q",
        *sudo,
        "apt-get -o DPkg::Lock::Timeout=600 install -y -q python3-venv",
        f"python3 -m venv --clear {venv}",
    ]
    assert (venv / "bin" / "pip").is_file()
    assert run() == []  # the venv is there: nothing to do
    (venv / "bin" / "pip").unlink()
    assert run() == [f"python3 -m venv --clear {venv}"]  # python3 can make it now: no apt-get
