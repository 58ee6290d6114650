"""Read scenario files: YAML → overrides → strict models → support check → resolved policies.

This is the only place a scenario is interpreted; the full-day simulation, the bootstrap
sandbox and the CLI all go through `load_scenario` / `scenario_from_dict`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runner.config_errors import pydantic_error
from runner.errors import ConfigError, PolicyError
from runner.input_files import InputError, kind_of, load_yaml_text, read_yaml_mapping
from runner.policy.library import named_policy
from runner.policy.tree import Policy
from runner.policy.validate import parse_valid_policy, read_policy_file
from runner.scenario.agents import AgentConfig
from runner.scenario.bounds import check_bounds
from runner.scenario.config import ScenarioConfig
from runner.scenario.support import check_supported, legacy_warnings

__all__ = [
    "Scenario",
    "apply_overrides",
    "load_scenario",
    "pydantic_error",
    "read_yaml",
    "resolve_relative",
    "scenario_from_dict",
    "set_dotted",
]


@dataclass(frozen=True)
class Scenario:
    """A validated scenario with every agent's policy parsed.

    Attributes:
        config: the strict scenario model.
        policies: agent id → parsed policy (from ``agents[].policy``).
        source: the file it was read from, if any (used in messages).
        warnings: one line per key that loads but has no effect (SimCash's legacy keys).
    """

    config: ScenarioConfig
    policies: dict[str, Policy]
    source: Path | None = None
    warnings: tuple[str, ...] = ()

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """Agent ids in lexicographic order (the engine's iteration order)."""
        return tuple(sorted(a.id for a in self.config.agents))


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping within the input bounds (`runner.input_files`); problems are one line."""
    return read_yaml_mapping(path)


def apply_overrides(
    raw: dict[str, Any], overrides: list[str] | tuple[str, ...], source: str | Path | None = None
) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML scalars).

    List items can be addressed by index or, for ``agents``, by id:
    ``agents.BANK_A.liquidity_pool=50000``.
    """
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError("must look like dotted.key=VALUE", source=source, path=f"override {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError("must look like dotted.key=VALUE", source=source, path=f"override {item!r}")
        try:
            value = load_yaml_text(text) if text else None
        except InputError as exc:
            detail = str(exc).removeprefix("invalid YAML")
            raise ConfigError(
                f"value {text!r} is not valid YAML{detail}", source=source, path=f"override {key}"
            ) from None
        set_dotted(out, key, value, source=source)
    return out


def set_dotted(data: dict[str, Any], key: str, value: Any, source: str | Path | None = None) -> None:
    """Set ``data[a][b]…`` for ``key = "a.b…"``, creating mappings along the way."""
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                ids = [str(x["id"]) for x in node if isinstance(x, dict) and "id" in x]
                choices = f"an index below {len(node)}"
                if ids:
                    choices += f" or an id ({', '.join(ids)})"
                raise ConfigError(f"no list item '{part}' (use {choices})", source=source, path=where)
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set a key inside {kind_of(node)}", source=source, path=".".join(parts[:i]))
        if last:
            node[part] = value
        else:
            if node.get(part) is None:  # an empty block (``cost_rates:``) is a mapping to fill
                node[part] = {}
            node = node[part]


def _list_index(items: list[Any], part: str) -> int | None:
    if part.isdigit():
        idx = int(part)
        return idx if idx < len(items) else None
    for idx, item in enumerate(items):
        if isinstance(item, dict) and item.get("id") == part:
            return idx
    return None


def scenario_from_dict(raw: dict[str, Any], source: str | Path | None = None, base_dir: Path | None = None) -> Scenario:
    """Validate a scenario mapping and resolve its agents' policies."""
    try:
        config = ScenarioConfig.model_validate(raw)
    except ValidationError as exc:
        raise pydantic_error(exc, source, data=raw) from None
    check_supported(config, source)
    check_bounds(config, source)
    folder = base_dir or (Path(source).parent if source else Path.cwd())
    policies = {a.id: _agent_policy(a, i, folder, source) for i, a in enumerate(config.agents)}
    prefix = f"{source}: " if source else ""
    return Scenario(
        config=config,
        policies=policies,
        source=Path(source) if source else None,
        warnings=tuple(prefix + line for line in legacy_warnings(config)),
    )


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Load a scenario file (SimCash files load as they are).

    Example:
        >>> sc = load_scenario("experiments/castro/scenarios/exp1.yaml")  # doctest: +SKIP
        >>> sc.agent_ids
        ('BANK_A', 'BANK_B')
    """
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides, source=path)
    return scenario_from_dict(raw, source=path)


def resolve_relative(folder: Path, relative: str) -> Path | None:
    """``relative`` against ``folder``, then each parent folder (SimCash's root-relative paths)."""
    candidate = Path(relative)
    if candidate.is_absolute():
        return candidate if candidate.exists() else None
    for root in [folder, *folder.resolve().parents]:
        if (root / candidate).exists():
            return root / candidate
    return None


def _agent_policy(agent: AgentConfig, index: int, folder: Path, source: str | Path | None) -> Policy:
    ref = agent.policy
    where = f"agents[{index}].policy"
    if ref.type == "FromJson":
        if ref.json_path is None:  # PolicyRef's validator requires it: only a model built by hand lacks it
            raise ConfigError("required with type FromJson", source=source, path=f"{where}.json_path")
        path = resolve_relative(folder, ref.json_path)
        if path is None:
            raise ConfigError(
                f"policy file '{ref.json_path}' not found (looked in {folder} and its parent folders)",
                source=source,
                path=f"{where}.json_path",
            )
        # Problems inside the policy file name the scenario field that points to it first.
        try:
            doc = read_policy_file(path)
            params = doc.get("parameters") or {} if isinstance(doc, dict) else None
            if isinstance(params, dict) and ref.inline_params():
                doc = {**doc, "parameters": {**params, **ref.inline_params()}}
            return parse_valid_policy(doc, source=path)
        except ConfigError as exc:
            raise ConfigError(exc.one_line(), source=source, path=f"{where}.json_path") from None
        except PolicyError as exc:
            context = f"{source}: {where}.json_path: {path}" if source else str(path)
            raise PolicyError(exc.errors, source=context) from None
    known = set(named_policy(ref.type).get("parameters", {})) | {"initial_liquidity_fraction"}
    for name in sorted(set(ref.inline_params()) - known):
        key = f"{where}.params.{name}" if name in ref.params else f"{where}.{name}"
        raise ConfigError(
            f"{ref.type} takes no argument '{name}' (arguments: {', '.join(sorted(known))})", source=source, path=key
        )
    doc = named_policy(ref.type, ref.inline_params())
    return parse_valid_policy(doc, source=f"{source}: {where}" if source else where)
