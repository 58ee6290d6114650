"""Sweep benchmark: LLM concurrency across run actors, Ray sample fan-out, Parquet writes.

Run from the repository root: ``.venv/bin/python benchmarks/sweep.py`` (``make bench``;
``--only llm|pool|many|resume|fanout|parquet`` runs one part; parts pool, many and resume,
(d), (e) and (r), are described in ``benchmarks/sweep_scale.py``). Every ratio is against a baseline measured in
the same invocation; exit status 1 if a target fails. Numeric libraries are pinned to one
thread before numpy is imported, and the Rays started here run their workers at niceness 0
(Ray's default is 15, which on a shared machine mostly measures the neighbours' load).

(a) LLM concurrency. 16 runs of Castro exp1 (deterministic, so compute is small) × 5
    iterations × 2 agents, each proposal one call to a fake OpenAI-compatible server on
    127.0.0.1 that answers after 1 s (``tests.fakes.fake_openai``: a thread per request),
    with the sweep limit ``{"openai/*": 8}`` and ``max_runs_in_flight: 16``; model
    ``openai/fake`` with ``llm.api_base`` at the fake server and ``OPENAI_API_KEY=dummy``.
    ``stability_window`` is larger than ``max_iterations`` so no run stops early. The ideal
    wall time is the LLM seconds over the concurrency: 16 × 5 × 2 × 1 s / 8 = 20 s; the
    sweep is timed from the first run handed to Ray to the last outcome (Ray itself is
    started before the clock). The fake server counts the requests inside their 1 s at every
    moment: the peak must not exceed 8 and should reach it. Targets (issue 13): the slots
    stay filled — the time-weighted requests in flight ÷ 8 between the first and the last
    request ≥ 95 % — and the first request starts ≤ 1 s after the gateway's own start-up
    (measured alone, below, and again just before each sweep, the best pair counting: the
    neighbours' load drifts by the minute): no waiting for the run actors to boot.
    The runs share one run actor process per CPU (8 each, in threads:
    `sweep.ray_driver.seats_per_actor`); one process per run left the slots half empty while
    16 booted on 2 cores (88 % occupied). The fake server sends its answers with Nagle's
    algorithm off: its two writes per answer (headers, body) otherwise waited ~40 ms each for
    the client's delayed ACK, idle time of every slot that no provider's server adds.
    Reported besides: the time before the first request and the "LLM window" (first request
    to last answer), and a baseline from a fresh process: the CPU seconds one run actor needs
    of its own (imports, which exclude litellm, and the run, its LLM calls answered at once in
    the process as plain data, as the gateway's come back), times 16 runs, plus the LLM
    gateway actor's (its one litellm import, and litellm's CPU per call times the 160 calls),
    over the CPUs: the CPU floor. And a wall floor from two measured facts: the seconds Ray
    takes to bring up the run actor processes (of an empty class), after which the last run still
    makes its 10 calls one after another; and the seconds the gateway actor alone takes to
    come up (its process and its litellm import, on an idle Ray), before which no call can
    start. (Before the gateway, every run actor imported litellm itself: 5.5–6.5 s of CPU each.)
(b) Ray fan-out. 10 000 samples of a scenario (`FANOUT_WORKLOADS`: Castro exp2 — both banks
    on "Release" with half their pool, ~50 payments a sample — and the 5-bank, 2-day
    ``experiments/scenarios/multibank.yaml``, ~600) through
    ``RayEvaluationExecutor(chunk_size=N).evaluate``, given a `ScheduleBatch` as the loop
    gives its samples, with Ray started for 1 and for 2 CPUs (``ray.init(num_cpus=N)``, each
    in a fresh process: this script re-invokes itself with ``--fanout-child N``). The first
    evaluation (untimed: it also starts the workers) puts the samples in the object store,
    later ones reuse them, as the loop's paired old/new evaluations and fixed reference set
    do; the put's cost is printed. Target: 2 workers ≥ 1.6 × faster than 1, at chunk_size
    1 250 (8 tasks: an even split, each well over Ray's own cost per task, which is printed);
    exp2 is also timed at 500. The in-process batch engine (``evaluate_batch`` on all 10 000
    at once) is timed as the reference point, every Ray result is checked equal to it, and
    the steps a chunk goes through (laid out and pickled in the caller, evaluated in the
    task) are timed without Ray.
(c) Parquet write throughput: ``benchmarks.store_throughput.write_throughput`` (rows/s of
    ``ParquetStore.write_part`` for ``samples`` rows) at 100 and at 1 000 rows per part.

The machine may be shared: every figure is the best of several repeats (each sweep of (a)
twice, (b) ten times, (c) three times), and the load average is printed with each part.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# This file is named like the `sweep` package: with its folder on sys.path (where Python puts
# a script's folder, and where Ray workers would inherit it from), `import sweep` would find
# it. The repository root instead, which also makes `tests.fakes` importable.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]
# Ray starts its workers at niceness 15; on a shared machine they would then mostly measure
# the neighbours' load, while the in-process references run at niceness 0. Same footing for all.
os.environ.setdefault("RAY_worker_niceness", "0")

import benchmarks.sweep_scale as scale  # noqa: E402
from tests.fakes.fake_openai import Delay, FakeOpenAIServer, policy_reply  # noqa: E402

# (a)
LLM_RUNS, LLM_ITERATIONS, LLM_AGENTS, LLM_LATENCY, LLM_CONCURRENCY = 16, 5, 2, 1.0, 8
LLM_REPEATS = 3
LLM_OVERRIDES = (
    f"convergence.max_iterations={LLM_ITERATIONS}",
    f"convergence.stability_window={LLM_ITERATIONS + 5}",
)  # no early stop
MIN_OCCUPANCY = 0.95  # time-weighted requests in flight / the limit, first to last request
MAX_FIRST_REQUEST_LAG = 1.0  # seconds after the gateway's own start-up
# (b)
FANOUT_SAMPLES = 10_000


@dataclass(frozen=True)
class Workload:
    """Samples of one scenario for part (b); chunk sizes timed, the verdict's first."""

    name: str
    scenario: Path
    chunks: tuple[int, ...]
    repeats: int


# An exp2 sample costs the engine ~15 µs, a Ray task ~1–2 ms here (printed): 1 250 samples
# make 8 tasks of ~15 ms, split evenly over 1 or 2 workers; the whole job is ~0.15 s of
# engine work. A multibank sample (5 banks, 2 days, ~600 payments) costs ~0.6 ms: the same
# 8 tasks then carry ~0.8 s each, the kind of evaluation Ray's fan-out is for.
FANOUT_WORKLOADS = (
    Workload("exp2", ROOT / "experiments/castro/scenarios/exp2.yaml", (1_250, 500), 10),
    Workload("multibank", ROOT / "experiments/scenarios/multibank.yaml", (1_250,), 3),
)
MIN_SPEEDUP = 1.6
# (c)
PARQUET_CASES = ((100, 20_000), (1_000, 100_000))  # (rows per part, rows written)
PARQUET_REPEATS = 3

EXP1 = ROOT / "experiments/castro/exp1.yaml"
POLICY = {
    "version": "1.0",
    "parameters": {"initial_liquidity_fraction": 0.25},
    "payment_tree": {"type": "action", "node_id": "release_all", "action": "Release"},
    "bank_tree": {"type": "action", "node_id": "idle", "action": "NoAction"},
}


def load_note() -> str:
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    busy = ": other processes compete for the cores" if load > cpus else ""
    return f"load average {load:.1f} on {cpus} CPUs{busy}"


def verdict(passed: bool, text: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}  {text}")
    return passed


# ---------------------------------------------------------------------- (a) LLM concurrency
class CountingServer(FakeOpenAIServer):
    """The fake server, counting the requests inside their scripted latency at any moment.

    Every reply of the script is a `Delay`, during which the handler thread sits in `wait`:
    the number of threads in `wait` is the number of requests being answered at once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._count_lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.last_answer = 0.0
        self.changes: list[tuple[float, int]] = []  # (time, requests in flight from then on)

    def wait(self, seconds: float) -> None:
        with self._count_lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.changes.append((time.monotonic(), self.in_flight))
        try:
            super().wait(seconds)
        finally:
            with self._count_lock:
                self.in_flight -= 1
                self.last_answer = time.monotonic()
                self.changes.append((self.last_answer, self.in_flight))

    def occupancy(self, slots: int) -> float:
        """Time-weighted requests in flight ÷ ``slots`` between the first and the last request."""
        with self._count_lock:
            changes = list(self.changes)
        starts = [t for (_, before), (t, n) in itertools.pairwise([(0.0, 0), *changes]) if n > before]
        first, last = starts[0], starts[-1]
        if last <= first:
            return 1.0
        area = 0.0
        for (t, n), (t_next, _) in itertools.pairwise(changes):
            lo, hi = max(t, first), min(t_next, last)
            if hi > lo:
                area += n * (hi - lo)
        return area / (slots * (last - first))


GATEWAY_PROBE_CALLS = 20  # calls timed through litellm to price the gateway's CPU per call


def run_cost_child(workdir: Path) -> None:
    """In a fresh process: the CPU seconds of part (a) besides Ray itself, printed as JSON.

    A run actor: import the run code (without litellm, as `sweep.actors.RunActor`), then run
    one cell (exp1, 5 iterations) whose LLM calls a transport answers at once, in this
    process, with the plain data the gateway would return. Then the gateway
    (`sweep.actors.LLMGatewayActor`): import litellm, and the CPU of one call through it
    against a fake LLM answering at once.
    """
    import asyncio
    import resource
    from collections.abc import Mapping, Sequence

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    began = cpu()
    import sweep.actors  # noqa: F401 — what a run actor's process imports (Ray included)
    from runner.llm.config import LLMConfig
    from runner.llm.litellm_loader import load_litellm
    from runner.llm.responses import Answer, CallOutcome
    from runner.llm.transport import LiteLLMTransport
    from sweep.run import run_one
    from sweep.spec import check_sweep_file
    from sweep.store import open_store

    assert "litellm" not in sys.modules, "a run actor's imports pulled litellm in"
    imported = cpu()
    reply = policy_reply(POLICY)

    class Answered:  # an LLMTransport: the gateway's answer, without the gateway
        async def supported_params(self, model: str) -> list[str] | None:
            return None

        async def call(self, config: LLMConfig, messages: Sequence[Mapping[str, str]]) -> list[CallOutcome]:
            answer = Answer(reply.content, None, *(reply.usage or (None, None)), None)
            return [CallOutcome(tuple(dict(m) for m in messages), answer, None, False, 0.0)]

    spec, runs = check_sweep_file(
        write_llm_sweep(workdir, f"cost{os.getpid()}", "http://127.0.0.1:9/v1", 1), LLM_OVERRIDES
    )
    outcome = run_one(runs[0], open_store(spec.output_location()), transport=Answered())
    assert outcome.status == "done" and outcome.llm_calls > 0, outcome
    assert "litellm" not in sys.modules, "the run imported litellm"
    ran = cpu()

    load_litellm()
    gateway_imported = cpu()
    with FakeOpenAIServer([reply], cycle=True) as server:
        os.environ.setdefault("OPENAI_API_KEY", "dummy")  # as part_llm sets it
        config = runs[0].config.llm.model_copy(update={"api_base": server.base_url, "transport_retries": 0})
        transport = LiteLLMTransport()
        messages = [{"role": "user", "content": "propose"}]

        async def probe() -> float:
            await transport.call(config, messages)  # the first call: litellm's lazy set-up
            start = cpu()
            for _ in range(GATEWAY_PROBE_CALLS):
                [done] = await transport.call(config, messages)
                assert done.answer is not None, done
            return (cpu() - start) / GATEWAY_PROBE_CALLS

        per_call = asyncio.run(probe())
    print(
        json.dumps(
            {
                "imports": imported - began,
                "run": ran - imported,
                "gateway_import": gateway_imported - ran,
                "gateway_per_call": per_call,
            }
        )
    )


def actor_boot_seconds(n: int) -> float:
    """Seconds Ray takes to bring up ``n`` actor processes of an empty class (then killed)."""
    import ray

    @ray.remote(num_cpus=0)
    class Empty:
        def ready(self) -> bool:
            return True

    began = time.monotonic()
    actors = [Empty.remote() for _ in range(n)]  # type: ignore[attr-defined]
    ray.get([a.ready.remote() for a in actors])
    took = time.monotonic() - began
    for actor in actors:
        ray.kill(actor)
    return took


def gateway_ready_seconds() -> float:
    """Seconds from creating the sweep's LLM gateway actor (`sweep.actors.start_gateway`) to
    its answering, on an otherwise idle Ray: its process's start and its litellm import."""
    import ray

    from runner.llm.config import LLMConfig
    from sweep.actors import start_gateway

    began = time.monotonic()
    gateway = start_gateway([LLMConfig(model="openai/fake")])
    ray.get(gateway.pid.remote())
    took = time.monotonic() - began
    ray.kill(gateway)
    return took


def write_llm_sweep(workdir: Path, tag: str, api_base: str, runs: int) -> Path:
    sweep_file = workdir / f"llm_{tag}.yaml"
    sweep_file.write_text(
        json.dumps(
            {  # JSON is YAML
                "name": f"bench_llm_{tag}",
                "experiments": [str(EXP1)],
                "grid": {"llm.model": ["openai/fake"], "llm.api_base": [api_base]},
                "replicates": runs,
                "limits": {"concurrency": {"openai/*": LLM_CONCURRENCY}, "max_runs_in_flight": runs},
                "output": str(workdir / f"out_llm_{tag}"),
            }
        )
    )
    return sweep_file


@dataclass
class LLMSweep:
    wall: float
    requests: int
    peak: int
    before_first: float  # sweep start → first request
    occupancy: float  # `CountingServer.occupancy` of the limit
    window: float  # first request → last answer
    statuses: dict[str, int]


def llm_sweep(workdir: Path, repeat: int) -> LLMSweep:
    from sweep.driver import run_sweep
    from sweep.spec import check_sweep_file
    from sweep.store import open_store

    server = CountingServer([Delay(LLM_LATENCY, policy_reply(POLICY))], cycle=True).start()
    try:
        spec, runs = check_sweep_file(write_llm_sweep(workdir, str(repeat), server.base_url, LLM_RUNS), LLM_OVERRIDES)
        assert len(runs) == LLM_RUNS, len(runs)
        root = spec.output_location()
        store = open_store(root)
        began = time.monotonic()
        outcomes = run_sweep(spec, runs, store, root, executor="ray")
        wall = time.monotonic() - began
    finally:
        server.stop()
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        key = f"{outcome.status}/{outcome.stop_reason}" if outcome.status == "done" else outcome.status
        statuses[key] = statuses.get(key, 0) + 1
        if outcome.status != "done":
            print(f"    run {outcome.run_id} {outcome.status}: {outcome.error}")
    first = min(r.received_at for r in server.requests)
    return LLMSweep(
        wall,
        len(server.requests),
        server.peak,
        first - began,
        server.occupancy(LLM_CONCURRENCY),
        server.last_answer - first,
        statuses,
    )


def child(args: list[str]) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh process; its last stdout line, as JSON."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if out.returncode != 0:
        print(out.stdout[-2000:], out.stderr[-4000:])
        raise RuntimeError(f"benchmark child {args} failed")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def part_llm(workdir: Path) -> bool:
    from sweep.actors import init_ray

    os.environ["OPENAI_API_KEY"] = "dummy"  # litellm's OpenAI client needs some key
    ideal = LLM_RUNS * LLM_ITERATIONS * LLM_AGENTS * LLM_LATENCY / LLM_CONCURRENCY
    expected = LLM_RUNS * LLM_ITERATIONS * LLM_AGENTS
    cpus = os.cpu_count() or 1
    print(
        f"(a) LLM concurrency: {LLM_RUNS} runs × {LLM_ITERATIONS} iterations × {LLM_AGENTS} agents, "
        f"fake LLM latency {LLM_LATENCY:g} s, limit openai/* = {LLM_CONCURRENCY} ({load_note()})"
    )
    costs = [child(["--run-cost-child", str(workdir)]) for _ in range(2)]
    cost = min(costs, key=lambda c: c["imports"] + c["run"])
    per_run = cost["imports"] + cost["run"]
    gateway_import = min(c["gateway_import"] for c in costs)
    per_call = min(c["gateway_per_call"] for c in costs)
    gateway = gateway_import + expected * per_call
    floor = (LLM_RUNS * per_run + gateway) / cpus
    print(
        f"    one run actor's own CPU (fresh process, best of {len(costs)}): {cost['imports']:.1f} s imports "
        f"(no litellm) + {cost['run']:.1f} s run = {per_run:.1f} s; the LLM gateway's, once per sweep: "
        f"{gateway_import:.1f} s importing litellm + {expected} calls × {per_call * 1000:.0f} ms = "
        f"{gateway:.1f} s; ({LLM_RUNS} × {per_run:.1f} s + {gateway:.1f} s) / {cpus} CPUs "
        f"= {floor:.1f} s of CPU floor before any LLM wait"
    )
    began = time.monotonic()
    init_ray(None)  # Ray on this machine, started before the clock
    print(f"    Ray started in {time.monotonic() - began:.1f} s (not timed below)")
    hosts = min(cpus, LLM_RUNS)  # run actor processes: one per CPU (`sweep.ray_driver.seats_per_actor`)
    boot = actor_boot_seconds(hosts)
    gateway_ready = gateway_ready_seconds()
    chain = LLM_ITERATIONS * LLM_AGENTS * LLM_LATENCY  # one run's calls, one after another
    wall_floor = max(boot + chain, gateway_ready + ideal)
    print(
        f"    Ray brings up the sweep's {hosts} run actor processes (of an empty class) in {boot:.1f} s "
        f"here; the last run up still makes its {chain:.0f} one-second calls in "
        f"turn, and no call can start before the gateway is up, which alone (its process and "
        f"its litellm import, nothing else running) takes {gateway_ready:.1f} s: wall floor "
        f"max({boot:.1f} + {chain:.0f}, {gateway_ready:.1f} + {ideal:.0f}) = {wall_floor:.1f} s = "
        f"{wall_floor / ideal:.2f} × ideal"
    )
    results, alone = [], []
    for repeat in range(LLM_REPEATS):
        # the gateway alone again just before each sweep: the neighbours' load drifts by the minute
        alone.append(gateway_ready_seconds())
        r = llm_sweep(workdir, repeat)
        results.append(r)
        mean = r.requests * LLM_LATENCY / r.window if r.window > 0 else 0.0
        print(
            f"    sweep {repeat + 1} (the gateway alone just before: {alone[-1]:.1f} s): "
            f"wall {r.wall:5.1f} s = {r.before_first:4.1f} s to the first request "
            f"+ {r.window:5.1f} s LLM window (+ {r.wall - r.before_first - r.window:.1f} s after the last "
            f"answer); {r.requests} requests, peak {r.peak} at once, mean {mean:.1f} in the window; slot "
            f"occupancy from the first to the last request {r.occupancy:.1%}; runs {r.statuses} ({load_note()})"
        )
    import ray

    ray.shutdown()
    best = min(results, key=lambda r: r.wall)
    peak = max(r.peak for r in results)
    print(
        f"    ideal {ideal:.1f} s; best wall {best.wall:.1f} s = {best.wall / ideal:.2f} × ideal "
        f"(CPU floor of the run actors and the gateway: {floor / ideal:.2f} × ideal); "
        f"its LLM window {best.window:.1f} s = {best.window / ideal:.2f} × ideal"
    )
    occupancy = max(r.occupancy for r in results)
    lags = [r.before_first - a for r, a in zip(results, alone, strict=True)]
    ok = verdict(
        occupancy >= MIN_OCCUPANCY,
        f"(a) steady-state slot occupancy ≥ {MIN_OCCUPANCY:.0%} (time-weighted requests in flight ÷ "
        f"{LLM_CONCURRENCY} from the first to the last request: "
        f"{', '.join(f'{r.occupancy:.1%}' for r in results)})",
    )
    ok &= verdict(
        min(lags) <= MAX_FIRST_REQUEST_LAG,
        f"(a) time to the first request ≤ the gateway's own start-up + {MAX_FIRST_REQUEST_LAG:g} s "
        f"({', '.join(f'{r.before_first:.1f} s vs {a:.1f} s' for r, a in zip(results, alone, strict=True))}: "
        f"{', '.join(f'{lag:+.1f}' for lag in lags)} s)",
    )
    ok &= verdict(
        LLM_CONCURRENCY - 1 <= peak <= LLM_CONCURRENCY,
        f"(a) peak concurrent LLM requests ≤ {LLM_CONCURRENCY} and close to it ({peak})",
    )
    ok &= verdict(
        all(r.requests == expected for r in results),
        f"(a) every sweep made exactly {expected} LLM requests ({', '.join(str(r.requests) for r in results)})",
    )
    return ok


# ---------------------------------------------------------------------- (b) Ray fan-out
def setup_and_samples(work: Workload, cache: Path) -> tuple[Any, Any]:
    """The workload's engine setup and its 10 000 samples as one `ScheduleBatch` (generated
    once, then read from ``cache``). exp2's banks run "Release" with half their pool; other
    scenarios run their own policies."""
    from runner.engine.schedule import ScheduleGenerator
    from runner.engine.schedule_batch import ScheduleBatch
    from runner.engine.setup import build_setup
    from runner.policy import parse_valid_policy
    from runner.scenario import load_scenario

    scenario = load_scenario(work.scenario)
    policies = None
    if work.name == "exp2":
        policy = parse_valid_policy(
            {"parameters": {"initial_liquidity_fraction": 0.5}, "payment_tree": {"type": "action", "action": "Release"}}
        )
        policies = dict.fromkeys(scenario.agent_ids, policy)
    setup = build_setup(scenario, policies)
    if cache.exists():
        samples = pickle.loads(cache.read_bytes())
    else:
        days = ScheduleGenerator(scenario.config)
        samples = ScheduleBatch.of([days.draw(seed) for seed in range(FANOUT_SAMPLES)])
        cache.write_bytes(pickle.dumps(samples, protocol=pickle.HIGHEST_PROTOCOL))
    return setup, samples


def fanout_child(workers: int, name: str, cache: Path) -> None:
    """In a fresh process: Ray with ``workers`` CPUs, best time of the 10 000-sample fan-out
    for each chunk size, the cost of one empty task and of putting the samples in the store."""
    import ray

    from runner.engine.batch import evaluate_batch
    from sweep.actors import RayEvaluationExecutor, init_ray

    work = next(w for w in FANOUT_WORKLOADS if w.name == name)
    setup, samples = setup_and_samples(work, cache)  # a ScheduleBatch, as the loop's samples
    expected = evaluate_batch(setup, samples)
    init_ray(None, num_cpus=workers)

    @ray.remote(num_cpus=1)
    def empty() -> None:
        return None

    ray.get([empty.remote() for _ in range(50)])  # starts the workers
    began = time.perf_counter()
    ray.get([empty.remote() for _ in range(200)])
    task_ms = (time.perf_counter() - began) / 200 * 1000
    puts = []
    for _ in range(3):  # what an evaluation of samples not yet in the object store pays once
        began = time.perf_counter()
        ray.put(samples)
        puts.append(time.perf_counter() - began)
    times: dict[int, list[float]] = {}
    same = True
    for chunk in work.chunks:
        executor = RayEvaluationExecutor(chunk_size=chunk)
        same &= executor.evaluate(setup, samples).same_summary(expected)  # also warms up
        times[chunk] = []
        for _ in range(work.repeats):
            began = time.perf_counter()
            table = executor.evaluate(setup, samples)
            times[chunk].append(time.perf_counter() - began)
        same &= table.same_summary(expected)
    ray.shutdown()
    print(json.dumps({"workers": workers, "times": times, "same": same, "task_ms": task_ms, "put": min(puts)}))


def chunk_costs(setup: Any, batch: Any, chunk: int) -> dict[str, float]:
    """Seconds, summed over the chunks, of each step a chunk goes through (no Ray)."""
    from runner.engine.batch import evaluate_batch
    from runner.engine.schedule_batch import ScheduleBatch

    schedules = list(batch)
    chunks = [batch[i : i + chunk] for i in range(0, len(batch), chunk)]
    steps = {
        "batch": lambda: ScheduleBatch.of(schedules),
        "pickle": lambda: [pickle.dumps(c, protocol=5) for c in chunks],
        "evaluate": lambda: [evaluate_batch(setup, c) for c in chunks],
        "pickle_list": lambda: [pickle.dumps(list(c), protocol=5) for c in chunks],
    }
    best = {}
    for name, step in steps.items():
        times = []
        for _ in range(2):
            began = time.perf_counter()
            step()
            times.append(time.perf_counter() - began)
        best[name] = min(times)
    return best


def part_fanout(workdir: Path) -> bool:
    ok = True
    for work in FANOUT_WORKLOADS:
        ok &= fanout_workload(workdir, work)
    return ok


def fanout_workload(workdir: Path, work: Workload) -> bool:
    from runner.engine.batch import evaluate_batch

    print(f"\n(b) Ray fan-out: {FANOUT_SAMPLES} {work.name} samples, chunk sizes {work.chunks} ({load_note()})")
    cache = workdir / f"{work.name}_samples.pickle"
    began = time.perf_counter()
    setup, samples = setup_and_samples(work, cache)
    per_sample = samples.payment_sizes.mean()
    print(
        f"    {len(samples)} samples ({per_sample:.0f} payments each on average) generated in "
        f"{time.perf_counter() - began:.1f} s (not timed below)"
    )
    batch = []
    for _ in range(work.repeats):
        began = time.perf_counter()
        evaluate_batch(setup, samples)
        batch.append(time.perf_counter() - began)
    best: dict[tuple[int, int], float] = {}
    same = True
    for workers in (1, 2):
        result = child(["--fanout-child", str(workers), "--workload", work.name, "--cache", str(cache)])
        same &= result["same"]
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        print(
            f"    Ray, {label} (an empty task costs {result['task_ms']:.1f} ms; putting the samples in the "
            f"object store, paid by the first evaluation of a sample set only: {result['put']:.3f} s):"
        )
        for chunk in work.chunks:
            times = result["times"][str(chunk)]
            best[workers, chunk] = min(times)
            print(
                f"      chunk_size {chunk:5d} ({-(-FANOUT_SAMPLES // chunk):2d} tasks): best {min(times):.3f} s "
                f"of {', '.join(f'{t:.3f}' for t in times)}"
            )
    print(
        f"    in-process batch engine (reference point): best {min(batch):.3f} s of "
        f"{', '.join(f'{t:.3f}' for t in batch)}"
    )
    chunk = work.chunks[0]
    costs = chunk_costs(setup, samples, chunk)
    print(
        f"    where Ray's time goes at chunk_size {chunk}, in this process (best of 2): laying 10 000 "
        f"schedules out as one ScheduleBatch {costs['batch']:.3f} s (the loop's samples already are one); "
        f"pickling the chunks {costs['pickle']:.3f} s (as lists of Schedule: {costs['pickle_list']:.3f} s); "
        f"evaluating them {costs['evaluate']:.3f} s"
    )
    for c in work.chunks:
        print(
            f"    chunk_size {c}: speed-up 2 vs 1 worker {best[1, c] / best[2, c]:.2f}×; "
            f"Ray with 2 workers vs in-process: {best[2, c] / min(batch):.2f}× the time"
        )
    speedup = best[1, chunk] / best[2, chunk]
    ok = verdict(
        speedup >= MIN_SPEEDUP,
        f"(b) {work.name}: 2 workers ≥ {MIN_SPEEDUP}× faster than 1 at chunk_size {chunk} ({speedup:.2f}×)",
    )
    ok &= verdict(same, f"(b) {work.name}: Ray results identical to the in-process engine's")
    return ok


# ---------------------------------------------------------------------- (c) Parquet
def part_parquet(workdir: Path) -> bool:
    from benchmarks.store_throughput import write_throughput

    print(f"\n(c) Parquet write throughput, ParquetStore.write_part of samples rows ({load_note()})")
    for per_part, n_rows in PARQUET_CASES:
        rates = [write_throughput(str(workdir / "parquet"), n_rows, per_part) for _ in range(PARQUET_REPEATS)]
        print(
            f"    {per_part:5d} rows per part ({n_rows // per_part} parts): best {max(rates):10,.0f} rows/s "
            f"= {max(rates) / per_part:6.1f} parts/s (of {', '.join(f'{r:,.0f}' for r in rates)})"
        )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["llm", "fanout", "parquet", "pool", "many", "resume"],
        action="append",
        help="run only this part (repeatable)",
    )
    parser.add_argument("--sweep-child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--fanout-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--run-cost-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fanout_child:
        fanout_child(args.fanout_child, args.workload, args.cache)
        return 0
    if args.run_cost_child:
        run_cost_child(args.run_cost_child)
        return 0
    if args.sweep_child:
        executor, sweep_file, *overrides = args.sweep_child
        scale.sweep_child(executor, Path(sweep_file), overrides)
        return 0
    parts = args.only or ["llm", "pool", "many", "resume", "fanout", "parquet"]
    print(
        f"paylab sweep benchmark — Python {sys.version.split()[0]}, {load_note()}; "
        "best of several repeats (the machine may be shared)\n"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="paylab-bench-sweep-") as tmp:
        workdir = Path(tmp)
        if "llm" in parts:
            ok &= part_llm(workdir)
        for name, part in (("pool", scale.part_pool), ("many", scale.part_many), ("resume", scale.part_resume)):
            if name in parts:
                ok &= part(Path(__file__).resolve(), workdir, load_note, verdict)
        if "fanout" in parts:
            ok &= part_fanout(workdir)
        if "parquet" in parts:
            ok &= part_parquet(workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
