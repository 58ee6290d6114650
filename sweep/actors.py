"""Ray execution: one actor per run, bootstrap evaluations as remote tasks, one limiter actor.

This is the only module that imports Ray. `RunActor` owns one experiment run (its loop, its
LLM client) and calls `sweep.run.run_one`; when its process dies Ray restarts it and the
run resumes from its last completed iteration in the store. Inside a run,
`RayEvaluationExecutor` splits sample evaluations into chunks evaluated by remote tasks (the
engine setup goes through the object store once per evaluation) with a cap on tasks in
flight. `LimiterActor` holds the per-model LLM concurrency and the sweep's spend.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import ray

from runner.engine.batch import evaluate_batch
from runner.engine.results import CostTable
from runner.engine.schedule import Schedule
from runner.engine.setup import EngineSetup
from runner.llm.config import LLMConfig
from sweep.limits import LocalLimiter
from sweep.run import CellInputs, run_one
from sweep.store import open_store

WORKER_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENBLAS_NUM_THREADS": "1",
              "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The API-key variable litellm reads for a provider (the model's prefix) when the experiment
# names none in ``llm.api_key_env``. Other providers: set ``llm.api_key_env``, or the
# variables on every node.
PROVIDER_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY",
                    "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
                    "xai": "XAI_API_KEY", "openrouter": "OPENROUTER_API_KEY", "cohere": "COHERE_API_KEY"}


def init_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (a running cluster; ``auto`` or RAY_ADDRESS) or start Ray here."""
    if ray.is_initialized():
        return
    runtime_env = {"env_vars": WORKER_ENV}
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        # address="local": always start a Ray of our own. With address=None, ray.init joins the
        # cluster a `ray start` on this machine recorded in /tmp/ray/ray_current_cluster (and
        # then refuses num_cpus), so the default mode silently became "existing cluster".
        ray.init(address="local", num_cpus=num_cpus, runtime_env=runtime_env, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)


@dataclasses.dataclass(frozen=True)
class PackedSamples:
    """Schedules as one array per `Schedule` field (the samples' arrays concatenated) plus
    where each sample starts in it; fields that are not arrays (``seed``) as plain lists.

    Why (benchmarks/sweep.py, part b): Ray pickles a list of `Schedule` sample by sample,
    a dozen small numpy arrays each; for 10 000 exp2 samples that took ~2 s in the calling
    process, four times the evaluation itself, so a second worker barely helped. Packed, a
    chunk is a few dozen buffers that Ray serialises without copying.
    """

    arrays: dict[str, np.ndarray]
    starts: dict[str, np.ndarray]  # int64 [n + 1]: sample i is arrays[f][starts[f][i]:starts[f][i + 1]]
    values: dict[str, list[Any]]

    @classmethod
    def pack(cls, samples: Sequence[Schedule]) -> PackedSamples:
        arrays, starts, values = {}, {}, {}
        for f in dataclasses.fields(Schedule):
            column = [getattr(s, f.name) for s in samples]
            if samples and all(isinstance(a, np.ndarray) for a in column):
                arrays[f.name] = np.concatenate(column)
                starts[f.name] = np.concatenate(([0], np.cumsum([len(a) for a in column]))).astype(np.int64)
            else:
                values[f.name] = column
        return cls(arrays, starts, values)

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else len(next(iter(self.starts.values()))) - 1

    def unpack(self) -> list[Schedule]:
        columns: list[list[Any]] = []
        for f in dataclasses.fields(Schedule):  # __init__'s order: rows are positional arguments
            if f.name in self.arrays:
                a, bounds = self.arrays[f.name], self.starts[f.name].tolist()
                columns.append([a[i:j] for i, j in itertools.pairwise(bounds)])
            else:
                columns.append(self.values[f.name])
        return [Schedule(*row) for row in zip(*columns, strict=True)]


def llm_key_env(llm: LLMConfig) -> dict[str, str]:
    """The API key a run of ``llm`` needs, as set in this (the driver's) environment.

    A run actor has its raylet's environment, not the driver's: on a cluster (``--address``,
    ``RAY_ADDRESS``) a key exported where ``paylab sweep`` runs would not reach the runs, whose
    LLM calls would all fail authentication. `RunActor.run` gets it as an argument (a
    runtime_env would show it in the dashboard); only ``llm.api_key_env``, else the
    provider's variable (`PROVIDER_KEY_ENV`), and only if set here.
    """
    if llm.is_builtin:
        return {}
    name = llm.api_key_env or PROVIDER_KEY_ENV.get(llm.model.split("/", 1)[0])
    value = os.environ.get(name) if name else None
    return {name: value} if name and value else {}


@ray.remote(num_cpus=1)
def evaluate_chunk(setup: EngineSetup, samples: PackedSamples) -> CostTable:
    return evaluate_batch(setup, samples.unpack())


class RayEvaluationExecutor:
    """Evaluates samples as Ray tasks of ``chunk_size`` samples, at most ``max_in_flight`` at once.

    An evaluation that fits in one chunk runs in the calling process: the task's scheduling
    and serialisation would cost more than the work.
    """

    def __init__(self, chunk_size: int = 100, max_in_flight: int = 16) -> None:
        self.chunk_size = chunk_size
        self.max_in_flight = max_in_flight

    def evaluate(self, setup: EngineSetup, samples: Sequence[Schedule]) -> CostTable:
        if len(samples) <= self.chunk_size:  # one chunk: a task would only add its overhead
            return evaluate_batch(setup, samples)
        setup_ref = ray.put(setup)  # once per evaluation, shared by every chunk
        chunks = [samples[i:i + self.chunk_size] for i in range(0, len(samples), self.chunk_size)]
        results: dict[int, CostTable] = {}
        index_of: dict[Any, int] = {}
        next_chunk = 0
        while next_chunk < len(chunks) or index_of:
            while next_chunk < len(chunks) and len(index_of) < self.max_in_flight:
                index_of[evaluate_chunk.remote(setup_ref, PackedSamples.pack(chunks[next_chunk]))] = next_chunk
                next_chunk += 1
            ready, _ = ray.wait(list(index_of), num_returns=1)
            for ref in ready:
                results[index_of.pop(ref)] = ray.get(ref)
        tables = [results[i] for i in range(len(chunks))]
        return tables[0] if len(tables) == 1 else CostTable.concat(tables)


@ray.remote(num_cpus=0)
class LimiterActor:
    """Sweep-wide LLM concurrency per model pattern and the spend so far.

    An async actor around a `LocalLimiter`: one event loop serves every run's requests, so
    the same semaphores bound all of them.
    """

    def __init__(self, concurrency: dict[str, int]) -> None:
        self.limiter = LocalLimiter(concurrency)

    async def acquire(self, model: str) -> None:
        await self.limiter.acquire(model)

    async def release(self, model: str) -> None:
        await self.limiter.release(model)

    async def add_spend(self, usd: float) -> float:
        return await self.limiter.add_spend(usd)

    async def spent(self) -> float:
        return await self.limiter.spent()


class RayLimiter:
    """The `sweep.limits.Limiter` interface over a `LimiterActor` handle."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def acquire(self, model: str) -> None:
        await self.handle.acquire.remote(model)

    async def release(self, model: str) -> None:
        await self.handle.release.remote(model)

    async def add_spend(self, usd: float) -> float:
        return float(await self.handle.add_spend.remote(usd))

    async def spent(self) -> float:
        return float(await self.handle.spent.remote())


@ray.remote(num_cpus=0, max_restarts=3, max_task_retries=3)
class RunActor:
    """Owns one experiment run; restartable (the run resumes from the store)."""

    def run(self, cell: CellInputs, store_root: str, limiter: Any, budget_usd: float | None,
            chunk_size: int, param_keys: Mapping[str, Any],
            key_env: Mapping[str, str] | None = None) -> dict[str, Any]:
        os.environ.update(WORKER_ENV)
        os.environ.update(key_env or {})  # this process serves this run only (see llm_key_env)
        outcome = run_one(cell, open_store(store_root), executor=RayEvaluationExecutor(chunk_size),
                          limiter=RayLimiter(limiter), budget_usd=budget_usd, param_keys=param_keys)
        return outcome.to_dict()

    def pid(self) -> int:
        return os.getpid()
