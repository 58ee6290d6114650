"""Read scenario files: YAML → overrides → strict models → support check → resolved policies.

This is the only place a scenario is interpreted; the full-day simulation, the bootstrap
sandbox and the CLI all go through `load_scenario` / `scenario_from_dict`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from runner.errors import ConfigError
from runner.policy.ast import Policy
from runner.policy.library import named_policy
from runner.policy.validate import parse_valid_policy, read_policy_file
from runner.scenario import models
from runner.scenario.support import check_supported

_TYPE_TAGS = {
    name
    for name, obj in vars(models).items()
    if isinstance(obj, type) and issubclass(obj, BaseModel)
} | {"int", "float", "str", "bool", "list", "dict", "tuple", "none", "Fixed", "Categorical",
     "Uniform", "Normal", "LogNormal", "Exponential", "OneTime", "Repeating",
     "CustomTransactionArrival", "DirectTransfer", "ScheduledSettlement",
     "CollateralAdjustment", "GlobalArrivalRateChange", "AgentArrivalRateChange",
     "CounterpartyWeightChange", "DeadlineWindowChange"}


@dataclass(frozen=True)
class Scenario:
    """A validated scenario with every agent's policy parsed.

    Attributes:
        config: the strict scenario model.
        policies: agent id → parsed policy (from ``agents[].policy``).
        source: the file it was read from, if any (used in messages).
    """

    config: models.ScenarioConfig
    policies: dict[str, Policy]
    source: Path | None = None

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """Agent ids in lexicographic order (the engine's iteration order)."""
        return tuple(sorted(a.id for a in self.config.agents))


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; missing files and syntax errors become one-line `ConfigError`s."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror})", source=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"invalid YAML{where}: {problem}", source=path) from None
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a YAML mapping at top level", source=path)
    return data


def pydantic_error(exc: ValidationError, source: str | Path | None, prefix: str = "") -> ConfigError:
    """The first error of ``exc`` as a one-line `ConfigError` with a dotted path."""
    errors = exc.errors()
    first = errors[0]
    parts: list[str] = []
    for item in first["loc"]:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif "[" in item or item in _TYPE_TAGS:
            continue
        else:
            parts.append(("." if parts else "") + item)
    path = "".join(parts)
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    kind = first["type"]
    msg = str(first["msg"])
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg = "required key is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        msg = msg.replace("Input tag", "type").replace("found using 'type' ", "")
    else:
        msg = msg.removeprefix("Value error, ")
        value = first.get("input")
        if kind != "value_error" and isinstance(value, int | float | str) and len(str(value)) < 40:
            msg = f"{msg}, got {value!r}"
    if len(errors) > 1 and kind not in ("extra_forbidden",):
        pass  # one line: the first problem is enough to act on
    return ConfigError(msg, source=source, path=path)


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...],
                    source: str | Path | None = None) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML scalars).

    List items can be addressed by index or, for ``agents``, by id:
    ``agents.BANK_A.liquidity_pool=50000``.
    """
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like dotted.key=value", source=source)
        key, text = item.split("=", 1)
        value = yaml.safe_load(text) if text else None
        set_dotted(out, key.strip(), value, source=source)
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
                raise ConfigError(f"no list item '{part}'", source=source, path=where)
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ConfigError("cannot set a key inside a non-mapping value", source=source, path=where)
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})


def _list_index(items: list[Any], part: str) -> int | None:
    if part.isdigit():
        idx = int(part)
        return idx if idx < len(items) else None
    for idx, item in enumerate(items):
        if isinstance(item, dict) and item.get("id") == part:
            return idx
    return None


def scenario_from_dict(raw: dict[str, Any], source: str | Path | None = None,
                       base_dir: Path | None = None) -> Scenario:
    """Validate a scenario mapping and resolve its agents' policies."""
    try:
        config = models.ScenarioConfig.model_validate(raw)
    except ValidationError as exc:
        raise pydantic_error(exc, source) from None
    check_supported(config, source)
    folder = base_dir or (Path(source).parent if source else Path.cwd())
    policies = {a.id: _agent_policy(a, i, folder, source) for i, a in enumerate(config.agents)}
    return Scenario(config=config, policies=policies, source=Path(source) if source else None)


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


def _agent_policy(agent: models.AgentConfig, index: int, folder: Path,
                  source: str | Path | None) -> Policy:
    ref = agent.policy
    where = f"agents[{index}].policy"
    if ref.type == "FromJson":
        assert ref.json_path is not None
        path = resolve_relative(folder, ref.json_path)
        if path is None:
            raise ConfigError(f"policy file '{ref.json_path}' not found", source=source,
                              path=f"{where}.json_path")
        doc = read_policy_file(path)
        if isinstance(doc, dict) and ref.inline_params():
            doc = {**doc, "parameters": {**(doc.get("parameters") or {}), **ref.inline_params()}}
        return parse_valid_policy(doc, source=path)
    doc = named_policy(ref.type, ref.inline_params())
    return parse_valid_policy(doc, source=f"{source}: {where}" if source else where)
