"""`ray up` / `ray submit` / `ray down` with ``cluster-local.yaml`` over SSH, as a user with
their own machines does it (issue 17) — the one machine being this one.

The node: a throw-away user with a temporary key, logged in through an ``sshd`` of ours on
127.0.0.1 (`tests.sweep.helpers_onprem`, which says why a user of its own: the launcher's
bare ``ray stop`` must not reach any other Ray on this machine). The cluster file: a copy of
the committed ``cluster-local.yaml`` with only what a user fills in changed — ``head_ip``
127.0.0.1, no workers, that user and key, the token file to mount — and, because other Rays
share this machine, the fixed ports of the head's ``ray start`` replaced by free ones and the
dashboard bound to 127.0.0.1. Its setup commands run as they are: they create the node's
``~/paylab-venv`` with ``pip`` (from the package index: the slow part) without root or sudo.

Then: ``ray up``; the dashboard refuses a ``ray job`` client that has ``RAY_AUTH_TOKEN`` but
not ``RAY_AUTH_MODE=token`` and serves one that has both (what docs/sweeps.md tells users);
``ray submit … sweep_entry.py -- experiments/sweeps/demo.yaml replicates=1 output=<folder>``;
the six runs' tables must equal those of ``paylab sweep --executor local`` on the same cells
(wall-clock columns excepted); ``ray down`` must leave no process of the node's user.

Afterwards the machine must be as it was: the user, our sshd and every process of theirs
gone, the current user's ``~/.ssh`` and shell start-up files, the account files and their
backups unchanged, our temp folder and the launcher's SSH control folder removed. The
packages apt-get installed stay, and the node's logins stay in /var/log/wtmp and lastlog.

Most of the time is the node's ``pip install`` (ray, pyarrow, litellm…: about 1.1 GB, from the
package index) in ``ray up``, then deleting that venv. Measured on this project's 2-core machine
shared with other jobs: 4.0 min at load average 10 (``ray up`` 121 s), 7.3 min at load 19
(``ray up`` 241 s, clean-up 111 s); less on an idle machine.
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.sweep.helpers_e2e import assert_finished_cleanly, assert_same_tables, rows, run_in_session, run_ok
from tests.sweep.helpers_onprem import (
    SshNode,
    free_port,
    owned_temp_files,
    ssh_control_dir,
    ssh_node,
    ssh_node_unavailable,
    system_snapshot,
    uid_pids,
    user_files_snapshot,
)

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RAY = ROOT / ".venv" / "bin" / "ray"
CLUSTER_LOCAL = ROOT / "cluster-local.yaml"
SWEEP_FILE = "experiments/sweeps/demo.yaml"
SWEEP_NAME = "castro_demo"
OVERRIDES = ("replicates=1",)  # 3 Castro experiments × 2 proposers
N_RUNS = 6
UP_TIMEOUT = 600.0  # mostly pip
SUBMIT_TIMEOUT = 300.0


def filled_in(node: SshNode, cluster_name: str, token: Path, dashboard_port: int) -> dict[str, Any]:
    """The committed file with what a user fills in, and private ports (see the docstring)."""
    config = yaml.safe_load(CLUSTER_LOCAL.read_text())
    config["cluster_name"] = cluster_name  # also names the launcher's state and SSH control files
    config["provider"].update(head_ip="127.0.0.1", worker_ips=[])
    config["max_workers"] = 0
    config["auth"] = {"ssh_user": node.user, "ssh_private_key": str(node.key)}
    assert "~/.ray/auth_token" in config["file_mounts"]
    config["file_mounts"]["~/.ray/auth_token"] = str(token)
    start = config["head_start_ray_commands"]
    assert start[0] == "ray stop"  # harmless here: the node's user runs no other Ray
    replaced = start[1]
    for fixed, private in (
        ("--port=6379", f"--port={free_port()}"),
        ("--object-manager-port=8076", f"--object-manager-port={free_port()}"),
        (
            "--dashboard-host=0.0.0.0",
            f"--dashboard-host=127.0.0.1 --dashboard-port={dashboard_port} "
            f"--dashboard-agent-listen-port={free_port()} "
            f"--ray-client-server-port={free_port()} --node-ip-address=127.0.0.1",
        ),
    ):
        assert fixed in replaced, f"cluster-local.yaml's head start command lacks {fixed}: {replaced}"
        replaced = replaced.replace(fixed, private)
    start[1] = replaced
    return config


def client_env(node: SshNode) -> dict[str, str]:
    """The launcher's environment: this project's Ray first on PATH, no other cluster or
    token, its temp files (config cache, cluster state) in our folder."""
    dropped = {"RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_API_SERVER_ADDRESS"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    tmp = node.root / "client" / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(
        PATH=f"{RAY.parent}{os.pathsep}{env.get('PATH', '')}",
        RAY_TMPDIR=str(tmp),
        TMPDIR=str(tmp),
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def ray(args: Sequence[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """``ray ARGS`` from the repository root (``file_mounts`` copies "."): exit code, output."""
    done = run_in_session([str(RAY), *args], cwd=ROOT, env=env, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def ray_ok(args: Sequence[str], env: dict[str, str], timeout: float) -> str:
    code, printed = ray(args, env, timeout)
    assert code == 0, f"ray {' '.join(args)} exited {code}\n{printed[-6000:]}"
    return printed


class Clock:
    """Seconds per phase, printed at the end (the test's runtime is part of its contract)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._since = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = round(now - self._since, 1)
        self._since = now


def run_the_cluster(node: SshNode, cluster_name: str, clock: Clock) -> None:
    """What the user does, from filling in the file to `ray down`, then the checks."""
    token = node.root / "client" / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    copy = node.root / "client" / "cluster-local.yaml"
    dashboard_port = free_port()
    copy.write_text(yaml.safe_dump(filled_in(node, cluster_name, token, dashboard_port)))
    env = client_env(node)
    out = node.root / "out"  # the "shared" output folder: the same path for the node and us
    out.mkdir()
    os.chown(out, node.uid, pwd.getpwuid(node.uid).pw_gid)

    ray_ok(["up", "-y", "--no-config-cache", str(copy)], env, UP_TIMEOUT)
    clock.lap("ray up")
    assert (node.ray_tmp / "ray" / "ray_current_cluster").is_file(), "the head's Ray is not in its RAY_TMPDIR"
    bashrc = node.ssh("cat ~/.bashrc").stdout
    assert "source ~/paylab-venv/bin/activate" in bashrc, bashrc

    # Token authentication is on (the mounted token): a `ray job` client needs the mode too.
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    token_only = {**env, "RAY_AUTH_TOKEN": token.read_text()}
    code, printed = ray(["job", "list", "--address", dashboard], token_only, 120)
    assert code != 0 and "Authentication required: Unauthorized: Missing authentication token" in printed, printed[
        -3000:
    ]  # as docs/sweeps.md quotes it
    ray_ok(["job", "list", "--address", dashboard], {**token_only, "RAY_AUTH_MODE": "token"}, 120)
    clock.lap("ray job list, refused then served")

    printed = ray_ok(
        ["submit", str(copy), "sweep_entry.py", "--", SWEEP_FILE, *OVERRIDES, "--quiet", f"output={out}"],
        env,
        SUBMIT_TIMEOUT,
    )
    clock.lap("ray submit")
    assert "exp2" in printed and "builtin/coordinate" in printed, printed[-3000:]  # the analysis table

    ray_ok(["down", "-y", str(copy)], env, 180)
    deadline = time.monotonic() + 30
    while uid_pids(node.uid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not uid_pids(node.uid), f"ray down left processes of {node.user}: {sorted(uid_pids(node.uid))}"
    clock.lap("ray down, until the node's last process ended")

    assert_finished_cleanly(out, N_RUNS, sweep=SWEEP_NAME)
    runs = rows(out, "runs", sweep=SWEEP_NAME)
    assert {r["status"] for r in runs} == {"done"}
    assert {(r["scenario"], r["model"]) for r in runs} == {
        (s, m) for s in ("exp1", "exp2", "exp3") for m in ("builtin/coordinate", "builtin/none")
    }
    local = node.root / "client" / "local_out"
    run_ok(
        ["sweep", SWEEP_FILE, *OVERRIDES, "--executor", "local", "--quiet", f"output={local}"], cwd=ROOT, timeout=300
    )
    counts = assert_same_tables(out, local, sweep=SWEEP_NAME)
    assert counts["runs"] == N_RUNS and counts["iterations"] > 0 and counts["samples"] > 0, counts
    clock.lap("tables checked against the local executor")


def package_index_unreachable() -> str | None:
    """The node's setup commands `pip install` from the package index: skip at once, with the
    reason, where pip cannot reach it (rather than wait out pip's retries inside `ray up`)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            [
                str(RAY.parent / "pip"),
                "download",
                "--no-deps",
                "--timeout",
                "20",
                "--retries",
                "1",
                "-q",
                "-d",
                folder,
                "pip",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    return None if probe.returncode == 0 else f"pip cannot reach the package index: {probe.stderr.strip()[-300:]}"


def test_ray_up_submit_down_on_an_ssh_node() -> None:
    reason = ssh_node_unavailable() or package_index_unreachable()
    if reason:
        pytest.skip(reason)
    user_before, system_before = user_files_snapshot(), system_snapshot()
    cluster_name = f"paylab-test-{secrets.token_hex(4)}"
    clock = Clock()
    with ssh_node(cluster_name) as node:
        clock.lap("node ready")
        run_the_cluster(node, cluster_name, clock)
    clock.lap("cleanup")
    print(f"\nseconds per phase: {clock.phases}\ncleaned up: {node.cleanups}")

    # The machine as we found it.
    assert user_files_snapshot() == user_before, "the current user's ~/.ssh or shell start-up files changed"
    assert system_snapshot() == system_before, "account files (or /run/sshd) differ from before"
    assert not uid_pids(node.uid) and node.sshd is not None and node.sshd.poll() is not None
    with pytest.raises(KeyError):
        pwd.getpwnam(node.user)
    assert not node.root.exists() and not ssh_control_dir(cluster_name).exists()
    assert not owned_temp_files(node.uid, node.since), owned_temp_files(node.uid, node.since)
