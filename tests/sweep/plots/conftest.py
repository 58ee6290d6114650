"""Two small sweeps made by the real runner (``executor="local"``), shared by the plot tests.

* ``mixed`` (`MIXED`): Castro exp1 and exp2 × four models, zipped with their ``api_base`` —
  the offline ``builtin/coordinate`` and ``builtin/none``, ``openai/gpt-4o-mini`` (priced by litellm) against the fake
  OpenAI server on 127.0.0.1 (every answer a valid policy after hostile prose, `HOSTILE`), and
  ``openai/refused`` against a second fake server that answers 401 (so those runs *fail*
  at their first call) — 2 replicates, at most 3 iterations: 16 runs, 4 failed, LLM calls.
* ``plain`` (`PLAIN`): exp1 and exp2 × the two offline proposers × ``max_iterations`` 1 and
  3, one replicate: no LLM call anywhere, and runs with a single iteration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sweep.driver import run_sweep
from sweep.spec import check_sweep_file
from sweep.store import open_store
from tests.fakes.fake_openai import FakeOpenAIServer, Fault, policy_reply
from tests.sweep.helpers_e2e import CASTRO

MIXED, PLAIN = "plots_mixed", "plots_plain"
HOSTILE = '<script>alert("pwned")</script></pre><img src=x onerror=alert(1)> & "quotes"'
POLICY = {
    "version": "1.0",
    "parameters": {"initial_liquidity_fraction": 0.25},
    "payment_tree": {"type": "action", "node_id": "release_all", "action": "Release"},
    "bank_tree": {"type": "action", "node_id": "idle", "action": "NoAction"},
}
SMALL = ["evaluation.num_samples=8", "evaluation.reference_samples=10", "evaluation.context_days=2"]


def _run(folder: Path, doc: dict[str, object], overrides: list[str]) -> Path:
    sweep_file = folder / f"{doc['name']}.yaml"
    sweep_file.write_text(json.dumps(doc))  # JSON is YAML
    spec, runs = check_sweep_file(sweep_file, [*overrides, f"output={folder / 'out'}"])
    root = spec.output_location()
    run_sweep(spec, runs, open_store(root), root, executor="local")
    return Path(root)


@pytest.fixture(scope="session")
def mixed_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of the ``mixed`` sweep (see the module docstring)."""
    folder = tmp_path_factory.mktemp("plots_mixed")
    saved = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "sk-fake-plots"
    try:
        with (
            FakeOpenAIServer([policy_reply(POLICY, prose=HOSTILE)], cycle=True) as good,
            FakeOpenAIServer([Fault(401, message="invalid key")], cycle=True) as bad,
        ):
            doc = {
                "name": MIXED,
                "experiments": [str(CASTRO[0]), str(CASTRO[1])],
                "replicates": 2,
                "zip": {
                    "llm.model": ["builtin/coordinate", "builtin/none", "openai/gpt-4o-mini", "openai/refused"],
                    "llm.api_base": [None, None, good.base_url, bad.base_url],
                },
                "output": "out",
            }
            return _run(folder, doc, [*SMALL, "convergence.max_iterations=3"])
    finally:
        if saved is None:
            os.environ.pop("OPENAI_API_KEY", None)
        else:
            os.environ["OPENAI_API_KEY"] = saved


@pytest.fixture(scope="session")
def plain_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of the ``plain`` sweep (no LLM; runs of one and of three iterations)."""
    folder = tmp_path_factory.mktemp("plots_plain")
    doc = {
        "name": PLAIN,
        "experiments": [str(CASTRO[0]), str(CASTRO[1])],
        "replicates": 1,
        "grid": {"llm.model": ["builtin/coordinate", "builtin/none"], "convergence.max_iterations": [1, 3]},
        "output": "out",
    }
    return _run(folder, doc, SMALL)
