"""`SweepSpec`: one sweep file, strict and frozen; `load_sweep` is the only place that reads it.

A sweep file names experiment files and the parameters to vary over them::

    name: castro_models
    experiments: [../castro/exp1.yaml, ../castro/exp*.yaml]  # paths or globs
    grid:                                  # cartesian product over experiment-config keys
      llm.model: [builtin/coordinate, openai/gpt-4.1]
      scenario_overrides.cost_rates.delay_cost_per_tick_per_cent: [0.1, 0.2]
    zip: {}                                # keys varied together (equal-length lists)
    replicates: 3                          # replicate index enters every seed
    baseline: builtin/none                 # one no-optimisation cell per scenario variant
    limits: {concurrency: {"openai/*": 8}, max_runs_in_flight: 32, llm_budget_usd: 50}
    output: results/                       # local folder or pyarrow URI (s3://, gs://, file://)

Paths are resolved as follows:

* ``experiments`` entries are relative to the sweep file's folder, then to each of its parent
  folders (the rule scenario paths already follow), so ``experiments/castro/exp1.yaml``
  works from ``experiments/sweeps/``; a glob takes the first folder where it matches.
* ``output`` is relative to the current working directory, as in Hydra, Ray and
  ``paylab run`` (whose ``output.directory`` is cwd-relative too): the results land where
  the command is run, not next to the sweep file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlparse

from pydantic import Field, ValidationError, field_validator, model_validator

from runner.config_base import Strict
from runner.errors import ConfigError
from runner.experiment.proposers import CoordinateProposer, NoneProposer
from runner.llm.config import BUILTIN_PREFIX, LLMConfig
from runner.output_dir import check_writable_folder
from runner.scenario.loader import pydantic_error, read_yaml
from sweep.overrides import DOTTED_KEY, apply_sweep_overrides

if TYPE_CHECKING:
    from sweep.expand import RunSpec

# The most runs a sweep expands to unless its ``limits.max_cells`` says otherwise: expanding
# and validating 100 000 runs takes seconds, and their runs table is still quick to read.
DEFAULT_MAX_CELLS = 100_000
BUILTIN_MODELS = (CoordinateProposer.name, NoneProposer.name)
# Schemes pyarrow.fs.FileSystem.from_uri understands (checked offline: no bucket is contacted).
URI_SCHEMES = ("abfs", "abfss", "file", "gcs", "gs", "hdfs", "mock", "s3", "viewfs")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_MODEL = re.compile(r"^[A-Za-z0-9_.\-]+/\S+$")
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

Axis = Annotated[list[Any], Field(min_length=1)]


class Limits(Strict):
    """Sweep-wide limits; every key is optional.

    Attributes:
        concurrency: fnmatch glob over the model string → LLM calls in flight at once
            across the whole sweep (``{"openai/*": 8}``).
        max_runs_in_flight: runs executing at the same time.
        llm_budget_usd: total LLM spend; a run over budget stops with reason ``budget``.
        max_cells: the most runs (cells × replicates) the sweep may expand to, default
            `DEFAULT_MAX_CELLS`; a bigger sweep is refused before anything is expanded.
    """

    concurrency: dict[Annotated[str, Field(min_length=1)], Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    max_runs_in_flight: int | None = Field(default=None, ge=1)
    llm_budget_usd: float | None = Field(default=None, gt=0)
    max_cells: int | None = Field(default=None, ge=1)

    @property
    def cell_limit(self) -> int:
        return self.max_cells if self.max_cells is not None else DEFAULT_MAX_CELLS


class SweepSpec(Strict):
    """A validated sweep file (see the module docstring for the format).

    Example:
        >>> spec = load_sweep("experiments/sweeps/demo.yaml", ["replicates=1"])  # doctest: +SKIP
        >>> spec.grid["llm.model"]
        ['builtin/coordinate', 'builtin/none']
    """

    name: str
    experiments: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=1)
    grid: dict[str, Axis] = Field(default_factory=dict)
    zip: dict[str, Axis] = Field(default_factory=dict)
    replicates: int = Field(default=1, ge=1, le=100_000)
    baseline: str | None = None
    limits: Limits = Limits()
    output: str = Field(default="results", min_length=1)
    # Set by the loader, not by the file.
    source: str | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # The name is a Parquet partition value and part of every run's row: keep it path-safe.
        if not _NAME.match(value):
            raise ValueError(f"must be made of letters, digits, '_', '.' and '-' only, got {value!r}")
        return value

    @field_validator("grid", "zip", "limits", mode="before")
    @classmethod
    def _empty_block(cls, value: Any) -> Any:
        return {} if value is None else value  # ``zip:`` with nothing under it: no keys

    @field_validator("experiments", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return tuple(value) if isinstance(value, list) else value  # YAML has lists, not tuples

    @field_validator("baseline")
    @classmethod
    def _baseline_model(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = normalise_model(value)
        problem = model_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _axes(self) -> SweepSpec:
        for section, axes in (("grid", self.grid), ("zip", self.zip)):
            for key in axes:
                if not DOTTED_KEY.match(key):
                    raise ValueError(f"{section}: key {key!r} must be a dotted experiment-config key such as llm.model")
        for key in self.zip:
            if key in self.grid:
                raise ValueError(f"zip: '{key}' is also varied in grid; vary a key in one place")
        keys = [*self.grid, *self.zip]
        for key in keys:
            inner = next((k for k in keys if k.startswith(key + ".")), None)
            if inner is not None:
                section = "grid" if inner in self.grid else "zip"
                raise ValueError(f"{section}: '{inner}' lies inside '{key}', which is varied too; vary one of them")
        lengths = {key: len(values) for key, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise ValueError(f"zip: lists must have the same length, got {shown}")
        match = _URI.match(self.output)
        if match and match.group(1).lower() not in URI_SCHEMES:
            raise ValueError(
                f"output: unsupported filesystem URI scheme '{match.group(1)}' (use a "
                f"local folder or one of {', '.join(s + '://' for s in URI_SCHEMES)})"
            )
        return self

    @property
    def varies_model(self) -> bool:
        """True when cells differ in ``llm.model`` (a model axis or a baseline)."""
        return self.baseline is not None or "llm.model" in self.grid or "llm.model" in self.zip

    def output_location(self, cwd: Path | None = None) -> str:
        """``output`` as an absolute local path (resolved against ``cwd``) or the URI as given."""
        if _URI.match(self.output):
            return self.output
        return str(((cwd or Path.cwd()) / Path(self.output).expanduser()).resolve())


def normalise_model(model: str) -> str:
    """``model`` in litellm's ``provider/name`` spelling (SimCash's ``provider:name`` mapped)."""
    try:
        return LLMConfig(model=model).model
    except ValidationError:
        return model  # model_problem says what is wrong with it


def model_problem(model: object) -> str | None:
    """Why ``model`` cannot name a proposer in a sweep, or None when it can.

    A model is ``builtin/coordinate``, ``builtin/none`` or a litellm ``provider/name`` string:
    the provider prefix is required because concurrency limits match on it.
    """
    if not isinstance(model, str) or not model.strip():
        return f"must be a model string such as builtin/none or openai/gpt-4.1, got {model!r}"
    if model.startswith(BUILTIN_PREFIX):
        if model not in BUILTIN_MODELS:
            return f"unknown builtin proposer '{model}' (use {' or '.join(BUILTIN_MODELS)})"
        return None
    if not _MODEL.match(model):
        return f"must look like provider/name (e.g. openai/gpt-4.1 or builtin/none), got {model!r}"
    return None


def load_sweep(path: str | Path, overrides: Sequence[str] = (), output: str | None = None) -> SweepSpec:
    """Read a sweep file, apply Hydra-style ``overrides``, validate it and probe its output.

    Args:
        path: the sweep YAML file.
        overrides: ``KEY=VALUE`` strings (see `sweep.overrides`): ``llm.model=a,b``,
            ``master_seed=range(3)``, ``replicates=5``, ``limits.max_runs_in_flight=4``.
        output: ``paylab sweep --out``: replaces ``output`` after the overrides, as the text
            given (not parsed as YAML: any folder name is a folder name).

    Raises:
        ConfigError: one line naming the file, the key and what must hold.
    """
    path = Path(path)
    raw = apply_sweep_overrides(read_yaml(path), overrides, source=path)
    if output is not None:
        raw["output"] = output
    try:
        spec = SweepSpec.model_validate({**raw, "source": str(path)})
    except ValidationError as exc:
        raise pydantic_error(exc, path, data=raw, model=SweepSpec) from None
    check_output(spec)
    return spec


def check_output(spec: SweepSpec, cwd: Path | None = None) -> None:
    """Fail unless a local ``output`` folder can be created or written; leaves nothing behind.

    The probe is `runner.output_dir.check_writable_folder`. Remote URIs are not probed:
    that would need the network and credentials at validation time.
    """
    target = Path(spec.output_location(cwd))
    if _URI.match(spec.output):
        parsed = urlparse(spec.output)
        if parsed.scheme.lower() != "file":
            return
        if not parsed.path:
            raise ConfigError("a file:// URI needs a path (file:///abs/folder)", source=spec.source, path="output")
        target = Path(unquote(parsed.path))
    check_writable_folder(target, source=spec.source, path="output")


def check_sweep_file(
    path: str | Path, overrides: Sequence[str] = (), output: str | None = None
) -> tuple[SweepSpec, list[RunSpec]]:
    """Load, expand and validate every cell of a sweep file without running or writing anything.

    Returns:
        The spec and its runs, in execution order.

    Raises:
        ConfigError: the first problem, as one line naming the sweep file, the cell and field.
    """
    from sweep.expand import expand

    spec = load_sweep(path, overrides, output)
    return spec, expand(spec, Path(path).parent)
