"""A sweep cell's identity: the SHA-256 of its fully resolved content plus its replicate.

A cell's key is the SHA-256 of the canonical JSON (sorted keys, no whitespace) of
its fully resolved *content* plus the replicate:

* the validated experiment config (``ExperimentConfig.model_dump(mode="json")``) without
  ``source``, without the ``scenario`` path and ``scenario_overrides`` (the scenario's content
  below replaces them) and with ``llm.system_prompt_file`` replaced by the prompt text;
* the validated scenario after ``scenario_overrides`` (defaults filled in, so comments and
  spelling do not matter, but any value does), without policy ``json_path``s;
* every agent's parsed policy (so editing a referenced policy JSON changes the key).

The key therefore changes when any value that can affect results changes, and does not
change with the sweep's name, the experiment file's location, or how a value was written
(``0.2`` in the scenario vs ``scenario_overrides`` setting the same ``0.2``). Cells with the
same key are de-duplicated: the first one in `sweep.expand`'s order is kept.

A run id is derived from the key (`sweep.expand`), so the same cell always has the same id,
and a re-run of a sweep finds its runs in the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runner.experiment.config import ExperimentConfig

KEY_VERSION = 1  # bump when the composition of the cell key changes


def cell_key(content: dict[str, Any], replicate: int) -> str:
    """SHA-256 hex of the canonical JSON of ``content`` plus ``replicate``."""
    text = json.dumps({**content, "replicate": replicate}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class ScenarioPart:
    """A resolved scenario and its policies, as content and as canonical JSON text."""

    content: dict[str, Any]
    text: dict[str, str]

    @classmethod
    def of(cls, content: dict[str, Any]) -> ScenarioPart:
        return cls(content, {k: _canonical_json(v) for k, v in content.items()})


@dataclass(frozen=True)
class CellContent:
    """A cell's resolved content (what its key is computed from, module docstring) and its
    canonical JSON text laid out around the replicate, so the key of each replicate hashes
    the same text as `cell_key` without re-serialising the scenario for every replicate."""

    content: dict[str, Any]
    head: str  # the canonical JSON of content + replicate, up to the replicate's value
    tail: str  # and after it

    @classmethod
    def of(cls, experiment: dict[str, Any], part: ScenarioPart) -> CellContent:
        content = {"key_version": KEY_VERSION, "experiment": experiment, **part.content}
        text = {"key_version": _canonical_json(KEY_VERSION), "experiment": _canonical_json(experiment), **part.text}
        names = sorted([*content, "replicate"])  # the order json.dumps(sort_keys=True) writes
        at = names.index("replicate")
        items = [f"{_canonical_json(name)}:{text[name]}" for name in names[:at]]
        head = "{" + ",".join([*items, '"replicate":'])
        tail = "".join(f",{_canonical_json(name)}:{text[name]}" for name in names[at + 1 :]) + "}"
        return cls(content, head, tail)

    def keys(self, replicates: int) -> Iterator[str]:
        """`cell_key` of this content for replicates ``0 .. replicates-1``."""
        prefix = hashlib.sha256(self.head.encode())
        for replicate in range(replicates):
            digest = prefix.copy()
            digest.update(f"{replicate}{self.tail}".encode())
            yield digest.hexdigest()


def resolved_content(config: ExperimentConfig, cache: dict[str, ScenarioPart] | None = None) -> CellContent:
    """What a cell's key is computed from (see the module docstring).

    Also where a cell's scenario and prompt are loaded, hence checked: ``cache`` (scenario
    inputs → resolved scenario part) lets cells that differ only outside the scenario (the
    model, a seed) skip re-reading and re-validating it; `expand` keeps one per call.
    """
    experiment = config.model_dump(mode="json")
    experiment.pop("scenario", None)
    experiment.pop("scenario_overrides", None)
    experiment["llm"].update(system_prompt=config.system_prompt_text(), system_prompt_file=None)
    # The scenario's inputs as written (the experiment file and its scenario path): finding
    # the file on disk for every cell cost more than the rest of a cell's key.
    marker = json.dumps(
        [config.source, config.scenario, config.scenario_overrides, config.optimized_agents],
        sort_keys=True,
        default=repr,
    )
    part = cache.get(marker) if cache is not None else None
    if part is None:
        part = ScenarioPart.of(_scenario_part(config))
        if cache is not None:
            cache[marker] = part
    return CellContent.of(experiment, part)


def _scenario_part(config: ExperimentConfig) -> dict[str, Any]:
    scenario = config.load_scenario()
    resolved = scenario.config.model_dump(mode="json")
    for agent in resolved.get("agents") or []:
        policy = agent.get("policy")
        if isinstance(policy, dict) and policy.get("json_path"):
            policy["json_path"] = None  # its parsed content is under "policies"
    policies = {agent: _plain(policy) for agent, policy in sorted(scenario.policies.items())}
    return {"scenario": resolved, "policies": policies}


def _plain(value: Any) -> Any:
    """A parsed policy as JSON-ready data; node classes are tagged (FieldRef ≠ ParamRef)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "_type": type(value).__name__,
            **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
