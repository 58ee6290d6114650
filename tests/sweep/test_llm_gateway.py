"""A Ray sweep's LLM calls go through one gateway actor; the run actors never import litellm.

The LLM is ``openai/fake`` against `tests.fakes.fake_openai` on 127.0.0.1 (every answer the
same valid policy), on Castro exp1 (deterministic), 2 replicates, 2 iterations. Ray runs in
this process (2 CPUs, a private temp folder), started *before* the provider key is set: its
workers do not have the key, so the fake server seeing it proves the driver handed it to
the gateway (`sweep.actors.llm_key_env`), the only process that holds it.

* The sweep through `run_sweep` with ``executor="ray"`` writes the same rows in every table
  as with ``executor="local"`` (litellm in-process), wall-clock columns excepted
  (`helpers_e2e.WALL_CLOCK`); the key is in no table.
* A `RunActor` run with the gateway, as the driver starts them: done, its LLM calls made, and
  ``litellm`` not in the run actor's ``sys.modules`` afterwards (it is in the gateway's). An
  error raised in the gateway (a key variable it lacks) reaches the caller as itself.

About 40 s on an idle 2-core machine (Ray's start, the gateway's litellm import, actor starts).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.llm.config import PROVIDER_KEY_ENV, LLMConfig
from sweep.actors import start_gateway
from sweep.spec import check_sweep_file
from tests.fakes.fake_openai import FakeOpenAIServer, policy_reply
from tests.sweep.conftest import ray_in_this_process
from tests.sweep.helpers_e2e import LLM_POLICY, assert_finished_cleanly, assert_same_tables, rows
from tests.sweep.helpers_e2e import write_llm_sweep as write_e2e_llm_sweep

SWEEP = "e2e_llm"
KEY = f"sk-gateway-{secrets.token_hex(8)}"
RUNS = 2
OVERRIDES = ("convergence.max_iterations=2",)


def write_llm_sweep(folder: Path, api_base: str) -> Path:
    return write_e2e_llm_sweep(folder, api_base, name=SWEEP, replicates=RUNS, concurrency=2)


def test_gateway_only_for_llm_models() -> None:
    assert start_gateway([LLMConfig(model="builtin/none"), LLMConfig(model="builtin/coordinate")]) is None
    assert start_gateway([]) is None


@pytest.fixture(scope="module")
def ray_here(ray_tmp: Path) -> Iterator[None]:
    """Ray started in this process without any provider key in its environment; shut down after."""
    with ray_in_this_process(ray_tmp, drop=PROVIDER_KEY_ENV.values()):
        yield


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the driver's key; Ray's processes do not have it
    with FakeOpenAIServer([policy_reply(LLM_POLICY)], cycle=True) as server:
        yield server


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.usefixtures("ray_here")
def test_llm_sweep_on_ray_matches_the_local_executor(fake_llm: FakeOpenAIServer, tmp_path: Path) -> None:
    from sweep.driver import run_sweep
    from sweep.store import open_store

    sweep_file = write_llm_sweep(tmp_path, fake_llm.base_url)
    outs = {}
    for executor in ("local", "ray"):
        spec, runs = check_sweep_file(sweep_file, [*OVERRIDES, f"output={tmp_path / executor}"])
        root = spec.output_location()
        outcomes = run_sweep(spec, runs, open_store(root), root, executor=executor)
        assert [(o.status, o.error) for o in outcomes] == [("done", None)] * RUNS
        assert_finished_cleanly(Path(root), RUNS, sweep=SWEEP)
        outs[executor] = Path(root)

    counts = assert_same_tables(outs["ray"], outs["local"], sweep=SWEEP)
    calls = rows(outs["ray"], "llm_calls", sweep=SWEEP)
    assert counts["runs"] == RUNS and counts["proposals"] == counts["llm_calls"] == len(calls) > 0
    assert {c["error"] for c in calls} == {None} and {c["prompt_tokens"] for c in calls} == {120}
    assert len(fake_llm.requests) == 2 * len(calls)  # local, then Ray
    assert {r.headers.get("authorization") for r in fake_llm.requests} == {f"Bearer {KEY}"}
    for out in outs.values():
        assert not any(
            KEY in json.dumps(r, default=str)
            for table in ("runs", "llm_calls", "events")
            for r in rows(out, table, sweep=SWEEP, skip={})
        )


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.usefixtures("ray_here")
def test_run_actor_never_imports_litellm(fake_llm: FakeOpenAIServer, tmp_path: Path) -> None:
    import ray

    from sweep.actors import RayGatewayTransport, RunActor
    from sweep.run import CellInputs
    from sweep.tables import infer_param_types

    spec, runs = check_sweep_file(
        write_llm_sweep(tmp_path, fake_llm.base_url), [*OVERRIDES, f"output={tmp_path / 'out'}"]
    )
    cell = runs[0]
    gateway = start_gateway([cell.config.llm])  # as sweep.ray_driver does
    actor = RunActor.remote()  # type: ignore[attr-defined]
    try:
        outcome, _ = ray.get(
            actor.run.remote(
                CellInputs.load(cell),
                spec.output_location(),
                None,
                100,
                infer_param_types(runs, sorted(cell.params)),
                gateway,
            ),
            timeout=300,
        )
        assert outcome["status"] == "done" and outcome["llm_calls"] > 0, outcome
        assert len(fake_llm.requests) == outcome["llm_calls"]
        assert ray.get(actor.imported.remote("litellm")) is False
        assert ray.get(actor.imported.remote("openai")) is False
        assert ray.get(gateway.imported.remote("litellm")) is True

        unset = cell.config.llm.model_copy(update={"api_key_env": "PAYLAB_TEST_UNSET_KEY"})
        with pytest.raises(ConfigError, match="PAYLAB_TEST_UNSET_KEY"):
            asyncio.run(RayGatewayTransport(gateway).call(unset, [{"role": "user", "content": "hi"}]))
    finally:
        ray.kill(actor)
        ray.kill(gateway)
