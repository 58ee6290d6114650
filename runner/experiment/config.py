"""`ExperimentConfig`: one experiment file, strict, frozen, with one set of defaults.

SimCash experiment files load as they are: their ``deterministic-pairwise`` mode,
``acceptance.require_statistical_significance``, ``output.database``/``verbose`` and
``convergence.{cv,regret,improvement}_threshold`` keys are accepted; the ones that have no
effect here are reported in `ExperimentConfig.warnings` (printed by the CLI), never silently
dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from runner.config_base import Strict
from runner.errors import ConfigError, NotSupportedError, PolicyError
from runner.experiment.proposers import BUILTIN_PROPOSERS
from runner.input_files import read_text
from runner.llm.config import LLMConfig
from runner.policy.constraints import ScenarioConstraints
from runner.policy.validate import validate_policy
from runner.scenario.loader import (
    Scenario,
    apply_overrides,
    pydantic_error,
    read_yaml,
    resolve_relative,
    scenario_from_dict,
    set_dotted,
)

Mode = Literal["bootstrap", "deterministic", "deterministic-pairwise", "deterministic-temporal"]


class AcceptanceConfig(Strict):
    """How a proposal is judged on its paired deltas (old − new cost per sample)."""

    rule: Literal["mean", "ci", "always"] = "mean"
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    settlement_floor: float | None = Field(default=None, ge=0, le=1)
    # SimCash spellings: significance = our "ci" rule; CV gate kept, on the candidate's costs.
    require_statistical_significance: bool | None = None
    max_coefficient_of_variation: float | None = Field(default=None, gt=0)

    @property
    def effective_rule(self) -> str:
        return "ci" if self.require_statistical_significance else self.rule


class EvaluationConfig(Strict):
    mode: Mode = "bootstrap"
    num_samples: int = Field(default=50, ge=1, le=100_000)
    ticks: int | None = Field(default=None, gt=0)
    world: Literal["sandbox", "full"] = "sandbox"
    # Full-scenario days simulated per iteration to bootstrap from (each sample resamples one
    # of them). 1 is the classic single context day; more days let the samples see
    # day-to-day variation in demand, not only the variation within one day.
    context_days: int = Field(default=1, ge=1, le=1000)
    acceptance: AcceptanceConfig = AcceptanceConfig()
    reference_samples: int = Field(default=200, ge=1, le=100_000)

    @property
    def deterministic(self) -> bool:
        return self.mode != "bootstrap"

    @property
    def temporal(self) -> bool:
        return self.mode == "deterministic-temporal"


class ConvergenceConfig(Strict):
    max_iterations: int = Field(default=25, ge=1, le=10_000)
    stability_threshold: float = Field(default=0.05, ge=0)
    stability_window: int = Field(default=5, ge=1)
    # SimCash keys without an effect here (reported as warnings).
    cv_threshold: float | None = None
    regret_threshold: float | None = None
    improvement_threshold: float | None = None


class OutputConfig(Strict):
    directory: str = "results"
    database: str | None = None  # SimCash's DuckDB file name: no effect (warned)
    verbose: bool | None = None  # SimCash: parsed but unused there too (warned)


def _default_policy() -> dict[str, Any]:
    return {
        "version": "1.0",
        "policy_id": "initial",
        "parameters": {"initial_liquidity_fraction": 0.5},
        "payment_tree": {"type": "action", "node_id": "release", "action": "Release"},
    }


class ExperimentConfig(Strict):
    """An experiment file (see ``experiments/castro/exp2.yaml`` for a commented example)."""

    name: str = Field(min_length=1)
    description: str = ""
    scenario: str
    master_seed: int = Field(default=42, ge=0, le=2**63 - 1)  # stored as int64
    optimized_agents: list[str] = Field(min_length=1)
    initial_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    evaluation: EvaluationConfig = EvaluationConfig()
    convergence: ConvergenceConfig = ConvergenceConfig()
    llm: LLMConfig
    policy_constraints: ScenarioConstraints | None = None
    constraints: str | None = None  # SimCash's legacy python-module constraints
    prompt_customization: dict[str, str] = Field(default_factory=dict)
    scenario_overrides: dict[str, Any] = Field(default_factory=dict)
    output: OutputConfig = OutputConfig()
    # Set by the loader, not by the file.
    source: str | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
            raise ValueError(
                f"must use only letters, digits, '_', '.' and '-' (it names run ids and folders), got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _checks(self) -> ExperimentConfig:
        for i, agent in enumerate(self.optimized_agents):
            if agent in self.optimized_agents[:i]:
                raise ValueError(
                    f"optimized_agents[{i}]: agent '{agent}' is listed twice "
                    "(each agent is optimised once per iteration)"
                )
        for agent, doc in self.initial_policies.items():
            if agent not in self.optimized_agents:
                raise ValueError(
                    f"initial_policies.{agent}: not one of optimized_agents ({', '.join(self.optimized_agents)})"
                )
            # a user's starting policy must obey the same constraints as any proposal
            errors = validate_policy(doc, self.policy_constraints)
            if errors:  # "payment_tree.action: …" → path initial_policies.AGENT.payment_tree.action
                line = PolicyError(errors).one_line()
                sep = "." if re.match(r"[\w.\[\]-]+: ", line) else ": "
                raise ValueError(f"initial_policies.{agent}{sep}{line}")
        return self

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
        """Load and check an experiment file, its scenario and its constraints.

        ``overrides`` are ``dotted.key=value`` strings applied before validation
        (``llm.model=builtin/coordinate``, ``scenario_overrides.cost_rates.x=0.3``).
        """
        path = Path(path)
        raw = apply_overrides(read_yaml(path), overrides, source=path)
        return cls.from_dict(raw, source=path)

    @classmethod
    def from_dict(
        cls, raw: dict[str, Any], source: str | Path | None = None, *, check_files: bool = True
    ) -> ExperimentConfig:
        """Validate ``raw``; ``check_files=False`` leaves loading the scenario and the prompt
        file to the caller (a sweep's expansion loads each distinct scenario once, not per cell)."""
        try:
            cfg = cls.model_validate({**raw, "source": str(source) if source else None})
        except ValidationError as exc:
            raise pydantic_error(exc, source) from None
        if cfg.constraints is not None and cfg.policy_constraints is None:
            raise NotSupportedError(
                "python-module constraints; use policy_constraints", source=source, path="constraints"
            )
        if check_files:
            cfg.load_scenario()  # fail early: missing file, unknown agents, unsupported features
            cfg.system_prompt_text()
        if cfg.llm.is_builtin and cfg.llm.model not in BUILTIN_PROPOSERS:
            raise ConfigError(
                f"unknown builtin proposer '{cfg.llm.model}' (use {' or '.join(BUILTIN_PROPOSERS)})",
                source=source,
                path="llm.model",
            )
        return cfg

    @property
    def folder(self) -> Path:
        return Path(self.source).parent if self.source else Path.cwd()

    def _looked_in(self, relative: str) -> str:
        if Path(relative).is_absolute():
            return ""
        return f" (looked in {self.folder} and the folders above it)"

    def scenario_path(self) -> Path:
        found = resolve_relative(self.folder, self.scenario)
        if found is None:
            raise ConfigError(
                f"scenario file '{self.scenario}' not found{self._looked_in(self.scenario)}",
                source=self.source,
                path="scenario",
            )
        return found

    def load_scenario(self) -> Scenario:
        """The experiment's scenario with ``scenario_overrides`` applied (validated)."""
        path = self.scenario_path()
        raw = read_yaml(path)
        for key, value in _flatten(self.scenario_overrides).items():
            set_dotted(raw, key, value, source=self.source)
        try:
            scenario = scenario_from_dict(raw, source=path, base_dir=path.parent)
        except ConfigError as exc:
            if self.scenario_overrides and exc.path.split(".")[0].split("[")[0] in {
                k.split(".")[0] for k in _flatten(self.scenario_overrides)
            }:
                raise exc.under("scenario_overrides").with_source(self.source or path) from None
            raise
        for i, agent in enumerate(self.optimized_agents):
            if agent not in scenario.agent_ids:
                raise ConfigError(
                    f"agent '{agent}' is not in the scenario (agents: {', '.join(scenario.agent_ids)})",
                    source=self.source,
                    path=f"optimized_agents[{i}]",
                )
        return scenario

    def system_prompt_text(self) -> str | None:
        """``llm.system_prompt``, or the text of ``llm.system_prompt_file``."""
        if self.llm.system_prompt_file is None:
            return self.llm.system_prompt
        found = resolve_relative(self.folder, self.llm.system_prompt_file)
        if found is None:
            raise ConfigError(
                f"file '{self.llm.system_prompt_file}' not found{self._looked_in(self.llm.system_prompt_file)}",
                source=self.source,
                path="llm.system_prompt_file",
            )
        try:
            return read_text(found)
        except ConfigError as exc:  # the file's own problem, reached through this field
            raise ConfigError(exc.one_line(), source=self.source, path="llm.system_prompt_file") from None

    def get_constraints(self) -> ScenarioConstraints:
        """What proposals may contain (empty constraints: parameters only, nothing allowed)."""
        return self.policy_constraints or ScenarioConstraints()

    def initial_policy_doc(self, agent: str) -> dict[str, Any]:
        return self.initial_policies.get(agent) or _default_policy()

    def customization_for(self, agent: str) -> str | None:
        """``prompt_customization.all`` then the agent's own text, blank ones skipped."""
        parts = [self.prompt_customization.get(k, "").strip() for k in ("all", agent)]
        text = "\n\n".join(p for p in parts if p)
        return text or None

    @property
    def warnings(self) -> list[str]:
        where = f"{self.source}: " if self.source else ""
        out = []
        for key in ("cv_threshold", "regret_threshold", "improvement_threshold"):
            if getattr(self.convergence, key) is not None:
                out.append(
                    f"{where}convergence.{key}: accepted for SimCash compatibility, no effect "
                    "(convergence uses stability_threshold/stability_window)"
                )
        if self.output.database is not None:
            out.append(f"{where}output.database: no effect (results are written under output.directory)")
        if self.output.verbose is not None:
            out.append(f"{where}output.verbose: no effect (use -v on the command line)")
        if self.evaluation.deterministic and "num_samples" in self.evaluation.model_fields_set:
            out.append(
                f"{where}evaluation.num_samples: not used in {self.evaluation.mode} mode "
                "(one full-day simulation is the sample)"
            )
        return out

    def with_overrides(
        self,
        *,
        model: str | None = None,
        seed: int | None = None,
        max_iterations: int | None = None,
        api_base: str | None = None,
    ) -> ExperimentConfig:
        """A copy with command-line overrides applied (and re-validated)."""
        if model is None and seed is None and max_iterations is None and api_base is None:
            return self
        data = self.model_dump(exclude_unset=True, by_alias=True)  # keep "was it set" facts
        if model is not None:
            data["llm"]["model"] = model
        if api_base is not None:
            data["llm"]["api_base"] = api_base
        if seed is not None:
            data["master_seed"] = seed
        if max_iterations is not None:
            data.setdefault("convergence", {})["max_iterations"] = max_iterations
        data.pop("source", None)
        return ExperimentConfig.from_dict(data, source=self.source)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flatten(value, dotted))
        else:
            out[dotted] = value
    return out
