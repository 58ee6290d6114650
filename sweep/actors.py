"""Ray execution: reused run actors, bootstrap evaluations as remote tasks, one LLM gateway
actor.

This module and `sweep.ray_driver` are the only ones that import Ray. A `RunActor` owns one
experiment run at a time (its loop, its LLM client) and calls `sweep.run.run_one`, then takes
the next; when its process dies Ray restarts it and the run resumes from its last completed
iteration in the store. Inside a run,
`RayEvaluationExecutor` splits sample evaluations into chunks evaluated by remote tasks (the
setup and the samples go through the object store once, and workers keep what they read)
with a cap on tasks in flight. `LLMGatewayActor` makes every run's LLM calls (through litellm,
with the API keys) within the per-model concurrency limits, and keeps the sweep's spend; the
runs reach it through `RayGatewayTransport`: ``import litellm`` costs seconds of CPU, paid
once per sweep instead of once per run, and run actors never hold a key.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ray

from runner.engine.batch import evaluate_batch
from runner.engine.results import CostTable
from runner.engine.schedule import Schedule
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import EngineSetup
from runner.llm.config import LLMConfig
from runner.llm.responses import CallOutcome
from sweep.limits import PROPOSAL_PRIORITY, LocalLimiter
from sweep.run import CellInputs, run_one
from sweep.store import open_store

WORKER_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def init_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (a running cluster; ``auto`` or RAY_ADDRESS) or start Ray here."""
    if ray.is_initialized():
        return
    if address:  # the cluster's workers have their own environment: WORKER_ENV goes with the job
        ray.init(address=address, runtime_env={"env_vars": WORKER_ENV}, log_to_driver=False)
    else:
        # A Ray started here inherits this process's environment, and its workers with it: no
        # job runtime_env, which would send every worker's start through Ray's runtime-env
        # agent (16 actor processes came up in ~16.5 s with one, ~11 s without, on 2 cores).
        for name, value in WORKER_ENV.items():
            os.environ.setdefault(name, value)
        # address="local": always start a Ray of our own. With address=None, ray.init joins the
        # cluster a `ray start` on this machine recorded in /tmp/ray/ray_current_cluster (and
        # then refuses num_cpus), so the default mode silently became "existing cluster".
        ray.init(
            address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False
        )


def llm_key_env(llm: LLMConfig) -> dict[str, str]:
    """The API key a run of ``llm`` needs, as set in this (the driver's) environment.

    An actor has its raylet's environment, not the driver's: on a cluster (``--address``,
    ``RAY_ADDRESS``) a key exported where ``paylab sweep`` runs would not reach the gateway
    that makes the LLM calls, which would all fail authentication. `LLMGatewayActor` gets it
    as a constructor argument (a runtime_env would show it in the dashboard; a constructor
    argument also survives a restart of the actor); only ``llm.api_key_env``, else the
    provider's variable (`LLMConfig.key_env`), and only if set here.
    """
    name = llm.key_env
    value = os.environ.get(name) if name else None
    return {name: value} if name and value else {}


class RecentlyUsed:
    """The last ``size`` values made by key, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = self._values[key] = make()
        while len(self._values) > self.size:
            self._values.popitem(last=False)
        return value


# In each worker process: the setups, batches and batch slices its tasks read lately, by
# object ref. A task's arguments are otherwise fetched and unpickled per task (~1 ms for a
# setup with its compiled policies, as much for a batch's arrays), and a fresh slice would
# make the engine rebuild the slice's layout: with chunks of ~10 ms of work that is a third
# of the task. Kept objects pin their buffers in the object store; the cache stays small.
_WORKER_CACHE = RecentlyUsed(16)


@ray.remote(num_cpus=1)
def evaluate_chunk(refs: list[Any], lo: int, hi: int) -> CostTable:
    """Samples ``lo:hi`` of a batch the caller put in the object store once for every chunk.

    ``refs`` holds the setup's and the batch's object refs inside a list, so that Ray hands
    them over unresolved and the worker can reuse what it already has (`_WORKER_CACHE`).
    """
    setup_ref, batch_ref = refs
    setup = _WORKER_CACHE.get(setup_ref.hex(), lambda: ray.get(setup_ref))
    batch = _WORKER_CACHE.get(batch_ref.hex(), lambda: ray.get(batch_ref))
    chunk = _WORKER_CACHE.get((batch_ref.hex(), lo, hi), lambda: batch[lo:hi])
    return evaluate_batch(setup, chunk).summary()


class RayEvaluationExecutor:
    """Evaluates samples as Ray tasks of ``chunk_size`` samples, at most ``max_in_flight`` at once.

    The setup and the samples go to the object store once — the last few of each are kept
    there, so the second policy of a paired comparison, and the fixed reference set at every
    iteration, reuse them — and each task reads its slice. An evaluation that fits in one
    chunk runs in the calling process: the task's scheduling and transfers would cost more
    than the work.
    """

    KEPT = 8  # setups and sample batches kept in the object store

    def __init__(self, chunk_size: int = 500, max_in_flight: int = 16) -> None:
        self.chunk_size = chunk_size
        self.max_in_flight = max_in_flight
        # by id: the value holds the object, so its id cannot be reused while it is kept
        self._stored = RecentlyUsed(self.KEPT)

    def _put(self, obj: Any) -> Any:
        return self._stored.get(id(obj), lambda: (obj, ray.put(obj)))[1]

    def evaluate(self, setup: EngineSetup, samples: Sequence[Schedule]) -> CostTable:
        # Why a batch: Ray pickles a list of `Schedule` sample by sample, a dozen small numpy
        # arrays each (for 10 000 exp2 samples ~2 s in the caller, four times the evaluation
        # itself); a `ScheduleBatch` is a dozen buffers whatever its size.
        batch = ScheduleBatch.of(samples)
        if len(batch) <= self.chunk_size:  # one chunk: a task would only add its overhead
            return evaluate_batch(setup, batch).summary()
        setup_ref, batch_ref = self._put(setup), self._put(batch)
        bounds = [(lo, min(lo + self.chunk_size, len(batch))) for lo in range(0, len(batch), self.chunk_size)]
        results: dict[int, CostTable] = {}
        index_of: dict[Any, int] = {}
        next_chunk = 0
        while next_chunk < len(bounds) or index_of:
            while next_chunk < len(bounds) and len(index_of) < self.max_in_flight:
                index_of[evaluate_chunk.remote([setup_ref, batch_ref], *bounds[next_chunk])] = next_chunk
                next_chunk += 1
            # once every chunk is submitted, wait for the rest at once (one round trip)
            waiting = 1 if next_chunk < len(bounds) else len(index_of)
            ready, _ = ray.wait(list(index_of), num_returns=waiting)
            for ref, table in zip(ready, ray.get(ready), strict=True):
                results[index_of.pop(ref)] = table
        tables = [results[i] for i in range(len(bounds))]
        return tables[0] if len(tables) == 1 else CostTable.concat(tables)


GATEWAY_MAX_CONCURRENCY = 1000  # calls held at once, waiting for a slot or answered


# (Ray's type stubs lack max_concurrency, which actors take.)
@ray.remote(
    num_cpus=0,
    max_concurrency=GATEWAY_MAX_CONCURRENCY,
    max_restarts=3,  # type: ignore[call-overload]
    max_task_retries=3,
)
class LLMGatewayActor:
    """Makes the LLM calls of every run of a Ray sweep, within the sweep's limits: one async
    actor, one litellm import, one `LocalLimiter`.

    ``import litellm`` takes seconds of CPU; in every run actor it cost a 16-run sweep on two
    cores more than the LLM waits themselves (benchmarks/sweep.py, part a). The constructor
    imports it at once, so the import overlaps the start of the run actors. ``key_env`` (the
    API keys of the sweep's models, `llm_key_env`) is set in this process: the keys live
    here only.

    The concurrency limits hold call by call, here: a call waits for a slot of its model's
    pattern (the run with the most iterations left first, `sweep.limits.PriorityGate`), and
    the moment an answer comes back the next waiting call goes out, with no round trip
    between processes. (Gating whole proposals in a separate limiter actor left each slot
    idle ~65 ms per call: the release, the grant and the call itself were three messages
    between processes, and the run's own CPU work between its turns held the slot too.)
    The sweep's spend is kept here as well.
    """

    def __init__(self, key_env: Mapping[str, str] | None = None, concurrency: Mapping[str, int] | None = None) -> None:
        os.environ.update(WORKER_ENV)
        os.environ.update(key_env or {})
        from runner.llm.litellm_loader import load_litellm
        from runner.llm.transport import LiteLLMTransport

        self.limits = LocalLimiter(dict(concurrency or {}))
        load_litellm()
        self.transport = LiteLLMTransport()

    async def supported_params(self, model: str) -> list[str] | None:
        return await self.transport.supported_params(model)

    async def call(self, config: LLMConfig, messages: list[dict[str, str]], priority: int = 0) -> list[CallOutcome]:
        # The slot is held for each HTTP exchange alone: released as the answer arrives, before
        # litellm's reading of it and the reply to the run, both done while the next call is out.
        return await self.transport.call(config, messages, gate=lambda: self.limits.slot(config.model, priority))

    async def add_spend(self, usd: float) -> float:
        return await self.limits.add_spend(usd)

    async def spent(self) -> float:
        return await self.limits.spent()

    def pid(self) -> int:
        return os.getpid()

    def imported(self, module: str) -> bool:
        return module in sys.modules


class GatewayLimiter:
    """The `sweep.limits.Limiter` of a run whose calls go through an `LLMGatewayActor`.

    Slots are not taken per proposal: the gateway gates each call (with the proposal's
    priority, `sweep.limits.PROPOSAL_PRIORITY`). The spend is the gateway's.
    """

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def acquire(self, model: str, priority: int = 0) -> None:
        return None

    async def release(self, model: str) -> None:
        return None

    async def add_spend(self, usd: float) -> float:
        return float(await self.handle.add_spend.remote(usd))

    async def spent(self) -> float:
        return float(await self.handle.spent.remote())


class RayGatewayTransport:
    """The `runner.llm.transport.LLMTransport` interface over an `LLMGatewayActor` handle.

    Outcomes come back as plain data, so this process never imports litellm. An error the
    gateway raises (say a ``ConfigError`` for a key variable it lacks) is re-raised as itself.
    """

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def supported_params(self, model: str) -> list[str] | None:
        params = await self._await(self.handle.supported_params.remote(model))
        return None if params is None else list(params)

    async def call(self, config: LLMConfig, messages: Sequence[Mapping[str, str]]) -> list[CallOutcome]:
        ref = self.handle.call.remote(config, [dict(m) for m in messages], PROPOSAL_PRIORITY.get())
        return list(await self._await(ref))

    @staticmethod
    async def _await(ref: Any) -> Any:
        try:
            return await ref
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise


def start_gateway(llms: Iterable[LLMConfig], concurrency: Mapping[str, int] | None = None) -> Any | None:
    """An `LLMGatewayActor` for the sweep's models with their keys and the sweep's
    ``limits.concurrency``, or None if all are builtin."""
    models = [llm for llm in llms if not llm.is_builtin]
    if not models:
        return None
    key_env: dict[str, str] = {}
    for llm in models:
        key_env.update(llm_key_env(llm))
    return LLMGatewayActor.remote(key_env, dict(concurrency or {}))  # type: ignore[attr-defined]


@ray.remote(num_cpus=0, max_restarts=3, max_task_retries=3)
class RunActor:
    """Runs experiment runs one after another (`sweep.ray_driver.RunActorPool` reuses it);
    created with ``max_concurrency`` above one, several at once, each in a thread of its own
    (a sweep that asks an LLM: `sweep.ray_driver.seats_per_actor`). Restartable (the runs in
    progress resume from the store).

    Its LLM calls go to the sweep's ``gateway`` (`LLMGatewayActor`), so this process neither
    imports litellm nor holds an API key. It keeps one store object for its runs: what the
    store has read of the batch files (their run lists, which never change) serves every
    later run, instead of each run reading every batch's footer again.
    """

    def __init__(self) -> None:
        self._store: tuple[str, Any] | None = None

    def _store_at(self, root: str) -> Any:
        if self._store is None or self._store[0] != root:
            self._store = (root, open_store(root))
        return self._store[1]

    def run(
        self,
        cell: CellInputs,
        store_root: str,
        budget_usd: float | None,
        chunk_size: int,
        param_keys: Mapping[str, Any],
        gateway: Any | None = None,
    ) -> tuple[dict[str, Any], int]:
        """The run's `RunOutcome` as a dict, and this process's pid (a changed pid tells the
        pool that Ray restarted the actor during the run).

        An LLM model's calls, and the sweep's spend, go through ``gateway``, which holds the
        concurrency limits. A builtin proposer makes no LLM call and spends nothing: it
        neither waits for a slot nor asks the gateway (which may still be importing litellm).
        """
        os.environ.update(WORKER_ENV)
        llm = gateway is not None and not cell.spec.config.llm.is_builtin
        outcome = run_one(
            cell,
            self._store_at(store_root),
            executor=RayEvaluationExecutor(chunk_size),
            limiter=GatewayLimiter(gateway) if llm else LocalLimiter(),
            budget_usd=budget_usd,
            param_keys=param_keys,
            transport=RayGatewayTransport(gateway) if llm else None,
        )
        return outcome.to_dict(), os.getpid()

    def pid(self) -> int:
        return os.getpid()

    def imported(self, module: str) -> bool:
        """Whether this process has imported ``module`` (tests: never litellm)."""
        return module in sys.modules
