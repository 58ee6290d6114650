"""A sweep on a real two-node Ray cluster on this machine, submitted as a Ray job (docs/sweeps.md).

The cluster: ``ray start --head`` (1 CPU, custom resource ``head``) and a second
``ray start --address`` (1 CPU, custom resource ``worker``): two raylets on one machine, each
with its own ``--temp-dir`` (Ray 2.60 takes one per node: "Can be specified per node" in
``ray start --help``). Both are started with ``--node-ip-address=127.0.0.1``, which Ray maps
to this machine's own interface address (``resolve_ip_for_localhost``): the traffic stays on
the machine. Every port a node would otherwise take at a fixed default (GCS 6379, dashboard
8265, dashboard agent 52365, Ray client 10001) is a free one, so the test runs next to other
Rays on a shared machine; every process of the cluster is in one of two process sessions of
ours, so the teardown kills exactly those (a bare ``ray stop`` would stop every Ray on the
machine: it cannot target one cluster).

The cluster runs with token authentication on and a private token (``RAY_AUTH_MODE=token``,
``RAY_AUTH_TOKEN``), which the ``ray job`` commands and drivers must then present — what Ray
2.61 does for every cluster and 2.60 for a ``ray start`` on a machine that holds a token
(``~/.ray/auth_token``, which any local ``ray.init()`` creates). A job's entrypoint runs
through the shell with the environment of the head's Ray, not with Ray's Python: unless
``.venv/bin`` leads that PATH (as an activated venv does; cluster.yaml activates its venv in
``~/.bashrc``), ``paylab`` is not found and ``python`` is the system's (checked by hand).

The job: ``ray job submit --working-dir <a minimal copy of the project> -- paylab sweep
sweep.yaml --address auto --chunk-size 50 output=<absolute folder>`` (the job's driver finds
the cluster through the RAY_ADDRESS the job supervisor sets). The sweep: Castro exp1, exp2 and
exp3 × {builtin/coordinate, builtin/none} × 1 replicate, 3 iterations; bootstrap evaluation
with 10 samples (in the run actor: one chunk) and 150 reference samples (3 tasks of 50), 2
context days. While the job runs, ``ray list nodes`` must show both nodes alive; afterwards
the state API must show run actors or evaluation tasks on both nodes. Its tables must equal
those of ``paylab sweep --executor local`` on the same cells, wall-clock columns excepted.
Then ``paylab sweep`` run outside a job joins the cluster through RAY_ADDRESS (the GCS
host:port), with the same tables; and an LLM run (model ``openai/fake`` against
``tests.fakes.fake_openai``) on the cluster, whose processes have no OPENAI_API_KEY, must
call the LLM with the key of the driver's environment (`sweep.actors.llm_key_env`), handed
to the sweep's LLM gateway actor.

About 75 s on an idle 2-core machine, 2–3 minutes on a busy one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.llm.config import PROVIDER_KEY_ENV
from tests.conftest import ROOT
from tests.fakes.fake_openai import FakeOpenAIServer, policy_reply
from tests.sweep.helpers_e2e import (
    assert_finished_cleanly,
    assert_same_tables,
    cmdline,
    kill_session,
    rows,
    run_ok,
)

pytestmark = [pytest.mark.slow, pytest.mark.ray]

VENV_BIN = ROOT / ".venv" / "bin"
RAY = VENV_BIN / "ray"
SWEEP_NAME = "cluster_small"
SWEEP_YAML = f"""name: {SWEEP_NAME}
experiments: [experiments/castro/exp1.yaml, experiments/castro/exp2.yaml, experiments/castro/exp3.yaml]
grid:
  llm.model: [builtin/coordinate, builtin/none]
replicates: 1
output: results
"""
OVERRIDES = (
    "convergence.max_iterations=3",
    "evaluation.num_samples=10",
    "evaluation.reference_samples=150",
    "evaluation.context_days=2",
)
CHUNK_SIZE = 50  # < 150 reference samples: each reference evaluation is 3 Ray tasks
N_RUNS = 6
PROJECT_PARTS = ("runner", "sweep", "paylab_cli", "experiments", "pyproject.toml")
START_TIMEOUT = 180.0
JOB_TIMEOUT = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """Our two-node cluster: addresses, the environment its clients need, its processes."""

    root: Path
    gcs_port: int
    dashboard_port: int
    env: dict[str, str]
    nodes: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def ray(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``ray ARGS`` with the cluster's environment (token included)."""
        done = subprocess.run(
            [str(RAY), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"ray {' '.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def state(self, kind: str, *filters: str) -> list[dict[str, Any]]:
        """``ray list KIND --detail`` as JSON (the state API, served by the dashboard)."""
        args = ["list", kind, "--address", self.dashboard, "--format", "json", "--detail", "--limit", "10000"]
        for f in filters:
            args += ["--filter", f]
        found = json.loads(self.ray(*args).stdout)
        assert isinstance(found, list)
        return found

    def job(self, submission: str) -> dict[str, Any]:
        """The job's record from the jobs REST API (what ``ray job status`` asks; its printout
        differs per state): ``status`` (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED), ``job_id``…"""
        request = urllib.request.Request(
            f"{self.dashboard}/api/jobs/{submission}", headers={"Authorization": f"Bearer {self.env['RAY_AUTH_TOKEN']}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            found = json.load(response)
        assert isinstance(found, dict)
        return found

    def alive_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self.state("nodes") if n.get("state") == "ALIVE"]


def cluster_env(token: str) -> dict[str, str]:
    # Never another cluster; no provider API key (the LLM test checks the driver passes it on).
    dropped = {"RAY_ADDRESS", *PROVIDER_KEY_ENV.values()}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # an activated venv
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_node(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[Any]:
    """``ray start ARGS --block`` in a new session: all the node's daemons and workers stay
    in that session, so `kill_session` can end the node to its last process."""
    with open(log, "w") as sink:
        return subprocess.Popen(
            [str(RAY), "start", *args, "--block", "--disable-usage-stats"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until(
    what: str, check: Any, timeout: float, nodes: Sequence[subprocess.Popen[Any]] = (), logs: Sequence[Path] = ()
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired, json.JSONDecodeError):
            value = check()
            if value:
                return value
        dead = [p for p in nodes if p.poll() is not None]
        if dead:
            raise AssertionError(
                f"ray start exited {dead[0].returncode} while waiting for {what}\n"
                + "\n".join(p.read_text()[-3000:] for p in logs if p.exists())
            )
        time.sleep(1.0)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what}\n"
        + "\n".join(p.read_text()[-3000:] for p in logs if p.exists())
    )


def stop_cluster(cluster: Cluster) -> None:
    """End exactly our processes: SIGTERM to each ``ray start --block`` (it stops its node's
    daemons), then SIGKILL whatever is left in their sessions, then any process whose command
    line names our temp folder (belt and braces: nothing of ours may outlive the test)."""
    for proc in reversed(cluster.nodes):  # the worker node first
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    for proc in reversed(cluster.nodes):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    for proc in cluster.nodes:
        kill_session(proc)
    marker = str(cluster.root)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and marker in cmdline(int(entry.name)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Short root: Ray's Unix socket paths (<temp-dir>/session_…/sockets/plasma_store) must
    # stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="plcl", dir="/tmp"))
    env = cluster_env(secrets.token_hex(32))
    cluster = Cluster(root, free_port(), free_port(), env)
    logs = [root / "head.log", root / "worker.log"]
    try:
        cluster.nodes.append(
            start_node(
                [
                    "--head",
                    "--node-ip-address=127.0.0.1",
                    f"--port={cluster.gcs_port}",
                    "--num-cpus=1",
                    '--resources={"head": 1}',
                    f"--temp-dir={root / 'h'}",
                    "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={cluster.dashboard_port}",
                    f"--dashboard-agent-listen-port={free_port()}",
                    f"--ray-client-server-port={free_port()}",
                ],
                env,
                logs[0],
            )
        )
        wait_until("the head node", lambda: len(cluster.alive_nodes()) == 1, START_TIMEOUT, cluster.nodes, logs)
        cluster.nodes.append(
            start_node(
                [
                    f"--address={cluster.gcs_address}",
                    "--node-ip-address=127.0.0.1",
                    "--num-cpus=1",
                    '--resources={"worker": 1}',
                    f"--temp-dir={root / 'w'}",
                    f"--dashboard-agent-listen-port={free_port()}",
                ],
                env,
                logs[1],
            )
        )
        wait_until("two alive nodes", lambda: len(cluster.alive_nodes()) == 2, START_TIMEOUT, cluster.nodes, logs)
        yield cluster
    finally:
        stop_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)


def project_copy(dest: Path) -> Path:
    """The job's working directory: what `paylab sweep` needs of the project, and the sweep."""
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for part in PROJECT_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=ignore)
        else:
            shutil.copy2(src, dest / part)
    (dest / "sweep.yaml").write_text(SWEEP_YAML)
    return dest


def node_names(cluster: Cluster) -> dict[str, str]:
    """node id → "head" / "worker" (by the custom resource each node was started with)."""
    names = {}
    for node in cluster.state("nodes"):
        resources = node.get("resources_total") or {}
        names[node["node_id"]] = "head" if "head" in resources else "worker" if "worker" in resources else "?"
    return names


def test_sweep_submitted_as_a_ray_job_matches_the_local_executor(cluster: Cluster, tmp_path: Path) -> None:
    work = project_copy(tmp_path / "project")
    out_job, out_local = tmp_path / "job_out", tmp_path / "local_out"
    submission = f"paylab-cluster-{secrets.token_hex(4)}"
    cluster.ray(
        "job",
        "submit",
        "--address",
        cluster.dashboard,
        "--working-dir",
        str(work),
        "--submission-id",
        submission,
        "--no-wait",
        "--",
        "paylab",
        "sweep",
        "sweep.yaml",
        "--address",
        "auto",
        "--chunk-size",
        str(CHUNK_SIZE),
        "--quiet",
        f"output={out_job}",
        *OVERRIDES,
    )

    # While the job runs: both nodes alive. Then its final status.
    seen_alive: set[int] = set()
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        status = cluster.job(submission)["status"]
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        if status == "RUNNING":
            seen_alive.add(len(cluster.alive_nodes()))
        if time.monotonic() > deadline:
            cluster.ray("job", "stop", submission, "--address", cluster.dashboard, check=False)
            raise AssertionError(f"job {submission} still running after {JOB_TIMEOUT} s")
        time.sleep(2.0)
    logs = cluster.ray("job", "logs", submission, "--address", cluster.dashboard).stdout
    assert status == "SUCCEEDED", f"job {submission}: {status}\n{logs[-5000:]}"
    assert seen_alive == {2}, f"alive nodes seen while the job ran: {seen_alive}"
    assert "exp2" in logs and "builtin/coordinate" in logs, logs[-3000:]  # the analysis table

    # Where the work ran: run actors (RunActor) and evaluation tasks (evaluate_chunk), by node.
    names = node_names(cluster)
    job_id = cluster.job(submission)["job_id"]
    actors = [a for a in cluster.state("actors", f"job_id={job_id}") if a.get("class_name") == "RunActor"]
    tasks = cluster.state("tasks", "func_or_class_name=evaluate_chunk", f"job_id={job_id}")
    # A pool of run actors, one per CPU of the cluster (two nodes of one CPU), each taking the
    # next run when it finishes: two actors, one on each node, ran the six runs between them.
    assert len(actors) == min(N_RUNS, 2), [(a.get("class_name"), a.get("state")) for a in actors]
    assert tasks, "no evaluation ran as a Ray task"
    # (The state API may not know the node of every task: its task events are best effort.)
    used = {names[n] for n in [a.get("node_id") for a in actors] + [t.get("node_id") for t in tasks] if n in names}
    assert used == {"head", "worker"}, (
        f"work ran on {used}: actors on {[names.get(a['node_id']) for a in actors]}, "
        f"tasks on {[names.get(t.get('node_id')) for t in tasks]}"
    )

    # The same cells with the local executor: identical tables, wall-clock columns excepted.
    run_ok(
        ["sweep", str(work / "sweep.yaml"), "--executor", "local", "--quiet", f"output={out_local}", *OVERRIDES],
        cwd=work,
        timeout=300,
    )
    assert_finished_cleanly(out_job, N_RUNS, sweep=SWEEP_NAME)
    assert_finished_cleanly(out_local, N_RUNS, sweep=SWEEP_NAME)
    counts = assert_same_tables(out_job, out_local, sweep=SWEEP_NAME)
    assert counts["runs"] == N_RUNS and counts["samples"] > 0 and counts["iterations"] > 0
    samples = rows(out_local, "samples", sweep=SWEEP_NAME)
    assert any(r["run_id"].startswith("castro_exp2") for r in samples)

    # Outside a job: `paylab sweep` joins the running cluster through RAY_ADDRESS alone.
    out_env = tmp_path / "env_out"
    env = {**cluster.env, "RAY_ADDRESS": cluster.gcs_address}
    run_ok(
        [
            "sweep",
            "sweep.yaml",
            "--chunk-size",
            str(CHUNK_SIZE),
            "--quiet",
            f"output={out_env}",
            *OVERRIDES,
            "experiments=experiments/castro/exp2.yaml",
        ],
        cwd=work,
        env=env,
        timeout=JOB_TIMEOUT,
    )
    exp2_ids = sorted({r["run_id"] for r in rows(out_env, "runs", sweep=SWEEP_NAME)})
    assert len(exp2_ids) == 2
    assert_same_tables(out_env, out_local, sweep=SWEEP_NAME, run_ids=exp2_ids)


def test_llm_calls_on_the_cluster_use_the_key_of_the_driver(cluster: Cluster, tmp_path: Path) -> None:
    """The cluster's processes have no OPENAI_API_KEY; the `paylab sweep` driver has one. Every
    LLM call of the run (made by the sweep's LLM gateway actor on the cluster) must present the
    driver's key."""
    work = project_copy(tmp_path / "project")
    out = tmp_path / "llm_out"
    key = f"sk-test-{secrets.token_hex(8)}"
    policy = {
        "version": "1.0",
        "parameters": {"initial_liquidity_fraction": 0.25},
        "payment_tree": {"type": "action", "node_id": "release_all", "action": "Release"},
        "bank_tree": {"type": "action", "node_id": "idle", "action": "NoAction"},
    }
    with FakeOpenAIServer([policy_reply(policy)], cycle=True) as server:
        env = {**cluster.env, "RAY_ADDRESS": cluster.gcs_address, "OPENAI_API_KEY": key}
        run_ok(
            [
                "sweep",
                "sweep.yaml",
                "--quiet",
                f"output={out}",
                "experiments=experiments/castro/exp1.yaml",
                "llm.model=openai/fake",
                f"llm.api_base={server.base_url}",
                "convergence.max_iterations=1",
            ],
            cwd=work,
            env=env,
            timeout=JOB_TIMEOUT,
        )
        requests = list(server)
    calls = rows(out, "llm_calls", sweep=SWEEP_NAME)
    assert [c["error"] for c in calls] == [None, None], calls  # one iteration, two agents
    assert len(requests) == 2
    assert {r.headers.get("authorization") for r in requests} == {f"Bearer {key}"}
    assert_finished_cleanly(out, 1, sweep=SWEEP_NAME)
    assert not any(
        key in json.dumps(r, default=str)
        for table in ("llm_calls", "events")
        for r in rows(out, table, sweep=SWEEP_NAME)
    )  # never recorded
