"""Expand a `SweepSpec` into a flat, deterministic list of validated `RunSpec`s.

`expand` is pure: it reads the experiment, scenario and policy files and nothing else, writes
nothing, and returns the same runs with the same ids in the same order every time.
`iter_runs` yields the same runs one at a time (a dry run of 100 000 cells holds none of
them), after `check_size` has refused a sweep past its cell limit from the axis lengths alone.
Each distinct scenario is loaded and validated once per expansion, not once per cell.

Order: experiments (as listed; a glob's matches sorted), then grid points (itertools.product
over the axes in the order the file lists them, the last axis varying fastest), then zip
positions, then replicates; an experiment's added baseline cells follow its grid cells.

Identity: see `sweep.cell_key` (the key of a cell is the hash of its resolved content and
its replicate; cells with the same key are de-duplicated: the first one, in the order
above, is kept).
"""

from __future__ import annotations

import copy
import glob
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ConfigError, PolicyError
from runner.experiment.config import ExperimentConfig
from runner.scenario.loader import read_yaml, resolve_relative, set_dotted
from sweep.cell_key import CellContent, ScenarioPart, resolved_content
from sweep.spec import SweepSpec, model_problem

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: one experiment cell and one replicate.

    Attributes:
        sweep: the sweep's name.
        run_id: ``<experiment name>-<cell_key[:16]>-<model>``; the same cell always has it.
        cell_key: SHA-256 (hex) of the resolved content and the replicate (module docstring).
        experiment_path: the experiment file, absolute.
        experiment: the experiment's ``name``.
        replicate: 0-based replicate index (enters every seed of the run).
        params: dotted key → value of what this cell varies, in axis order; includes
            ``llm.model`` (as resolved) whenever the sweep varies the model or has a baseline.
        overrides: ``dotted=value`` strings that turn the experiment file into this cell:
            ``ExperimentConfig.from_yaml(experiment_path, overrides) == config``.
        baseline: the cell's model is the sweep's ``baseline`` model.
        config: the validated experiment config of the cell.
    """

    sweep: str
    run_id: str
    cell_key: str
    experiment_path: str
    experiment: str
    replicate: int
    params: dict[str, Any]
    overrides: tuple[str, ...]
    baseline: bool
    config: ExperimentConfig = field(repr=False)

    @property
    def model(self) -> str:
        """The cell's ``llm.model``."""
        return self.config.llm.model

    @property
    def scenario(self) -> str:
        """The scenario file's stem (``exp2`` for ``scenarios/exp2.yaml``)."""
        return Path(self.config.scenario).stem


@dataclass(frozen=True)
class _Cell:
    params: dict[str, Any]  # the applied values only
    overrides: tuple[str, ...]


def expand(spec: SweepSpec, base_dir: str | Path | None = None) -> list[RunSpec]:
    """Every run of ``spec``, validated, de-duplicated by cell key, in deterministic order.

    Args:
        spec: the sweep.
        base_dir: folder the experiment paths are relative to (default: the sweep file's).

    Raises:
        ConfigError: an experiment path resolves to nothing, the sweep would expand to more
            than its cell limit (`check_size`), or a cell is invalid; the line names the sweep
            file, the cell (experiment file and parameters) and the field.
    """
    return list(iter_runs(spec, base_dir))


def iter_runs(spec: SweepSpec, base_dir: str | Path | None = None) -> Iterator[RunSpec]:
    """`expand`, one run at a time: what is kept between runs is the keys seen (32 bytes a
    run) and one resolved scenario per distinct scenario, so a dry run or a validation of a
    100 000-run sweep never holds 100 000 configs. The size is checked before the first run."""
    base = (
        Path(base_dir) if base_dir is not None else (Path(spec.source).parent if spec.source else Path.cwd())
    ).resolve()
    paths = experiment_paths(spec, base)
    check_size(spec, len(paths))
    seen: set[bytes] = set()
    scenarios: dict[str, ScenarioPart] = {}  # resolved scenarios, shared by this call only
    for index, path, shown in paths:
        raw = _read_experiment(spec, path, index)
        for cell in _cells(spec):
            config, content = _build(spec, (path, shown), raw, cell, scenarios)
            params = _params(spec, cell, config)
            baseline = spec.baseline is not None and config.llm.model == spec.baseline
            for replicate, key in enumerate(content.keys(spec.replicates)):
                digest = bytes.fromhex(key)
                if digest in seen:
                    continue
                seen.add(digest)
                yield RunSpec(
                    sweep=spec.name,
                    run_id=_run_id(config, key),
                    cell_key=key,
                    experiment_path=str(path),
                    experiment=config.name,
                    replicate=replicate,
                    params=dict(params),
                    overrides=cell.overrides,
                    baseline=baseline,
                    config=config,
                )


def count_runs(spec: SweepSpec, experiments: int) -> int:
    """How many runs ``spec`` expands to over ``experiments`` files, before de-duplication
    (so at least as many as `expand` returns), from the axis lengths alone."""
    points = math.prod(len(v) for v in spec.grid.values()) * _zip_width(spec)
    if spec.baseline is not None:  # one baseline cell per distinct point of the other axes
        models = spec.grid.get("llm.model")
        points += points // len(models) if models else points
    return experiments * points * spec.replicates


def check_size(spec: SweepSpec, experiments: int) -> None:
    """Refuse a sweep that would expand past ``limits.max_cells`` (before expanding anything)."""
    count = count_runs(spec, experiments)
    limit = spec.limits.cell_limit
    if count > limit:
        axes = " × ".join(
            [
                f"{experiments} experiment{'s' if experiments != 1 else ''}",
                *(f"{len(v)} {k}" for k, v in spec.grid.items()),
                *([f"{_zip_width(spec)} zip"] if spec.zip else []),
                f"{spec.replicates} replicate{'s' if spec.replicates != 1 else ''}",
            ]
        )
        extra = " (+ baseline cells)" if spec.baseline is not None else ""
        raise ConfigError(
            f"the sweep would expand to {count:,} runs ({axes}{extra}), more than the "
            f"limit of {limit:,}; shrink the grid or raise limits.max_cells",
            source=spec.source,
            path="grid",
        )


def experiment_paths(spec: SweepSpec, base: Path) -> list[tuple[int, Path, str]]:
    """Every experiment file: (index in ``experiments``, absolute path, path as written).

    A file listed twice (or matched by two globs) is kept at its first place. The third
    item is the path relative to the folder it was found from, for messages.
    """
    out: dict[Path, tuple[int, str]] = {}
    base = base.resolve()
    for index, entry in enumerate(spec.experiments):
        where = f"experiments[{index}]"
        if _GLOB_CHARS & set(entry):
            matches = _glob(base, entry)
            if not matches:
                raise ConfigError(
                    f"pattern '{entry}' matches no file (looked in {base} and its parent folders)",
                    source=spec.source,
                    path=where,
                )
        else:
            found = resolve_relative(base, entry)
            if found is None:
                raise ConfigError(
                    f"file '{entry}' not found (looked in {base} and its parent folders)",
                    source=spec.source,
                    path=where,
                )
            if not found.is_file():
                problem = "is a folder" if found.is_dir() else "is not a regular file (a FIFO, device or socket)"
                raise ConfigError(
                    f"file '{entry}' ({found}) {problem}, not an experiment file", source=spec.source, path=where
                )
            matches = [(found, entry)]
        for path, shown in matches:
            out.setdefault(path.resolve(), (index, shown))
    return [(index, path, shown) for path, (index, shown) in out.items()]


def render_value(value: Any) -> str:
    """``value`` as override text that YAML parses back to exactly ``value`` (types included)."""
    if type(value) is int:  # the common grid axis (seeds, counts): its digits, without a YAML round trip
        return str(value)
    if isinstance(value, str) and "," not in value and _same(_load(value), value):
        return value  # plain strings stay readable: builtin/none, not 'builtin/none'
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False, allow_unicode=True).strip()
    text = text.removesuffix("...").strip()
    if not _same(_load(text), value):
        raise ConfigError(f"value {value!r} cannot be written as an override")
    return text


# --------------------------------------------------------------------------- internals


def _zip_width(spec: SweepSpec) -> int:
    return len(next(iter(spec.zip.values()))) if spec.zip else 1


def _points(spec: SweepSpec) -> Iterator[_Cell]:
    """Grid × zip points in axis order, one at a time (a 100 000-point grid is never a list);
    each axis value is rendered as override text once, not once per cell."""
    grid = [(key, values, [f"{key}={render_value(v)}" for v in values]) for key, values in spec.grid.items()]
    zipped = [(key, values, [f"{key}={render_value(v)}" for v in values]) for key, values in spec.zip.items()]
    for combo in itertools.product(*(range(len(values)) for _, values, _ in grid)):
        for j in range(_zip_width(spec)):
            params = {key: values[i] for (key, values, _), i in zip(grid, combo, strict=True)}
            params.update((key, values[j]) for key, values, _ in zipped)
            shown = [rendered[i] for (_, _, rendered), i in zip(grid, combo, strict=True)]
            shown += [rendered[j] for _, _, rendered in zipped]
            yield _Cell(params, tuple(shown))


def _cells(spec: SweepSpec) -> Iterator[_Cell]:
    """The grid cells, then one baseline cell per distinct non-model point."""
    yield from _points(spec)
    if spec.baseline is None:
        return
    model = f"llm.model={render_value(spec.baseline)}"
    seen: set[str] = set()
    for point in _points(spec):
        rest = {k: v for k, v in point.params.items() if k != "llm.model"}
        marker = json.dumps(rest, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            texts = tuple(t for t in point.overrides if not t.startswith("llm.model="))
            yield _Cell({**rest, "llm.model": spec.baseline}, (*texts, model))


def _params(spec: SweepSpec, cell: _Cell, config: ExperimentConfig) -> dict[str, Any]:
    params = dict(cell.params)
    if spec.varies_model:
        params["llm.model"] = config.llm.model  # resolved spelling; keeps its axis position
    return params


def _read_experiment(spec: SweepSpec, path: Path, index: int) -> dict[str, Any]:
    try:
        return read_yaml(path)
    except ConfigError as exc:
        raise ConfigError(exc.one_line(), source=spec.source, path=f"experiments[{index}]") from None


def _build(
    spec: SweepSpec, where: tuple[Path, str], raw: dict[str, Any], cell: _Cell, cache: dict[str, ScenarioPart]
) -> tuple[ExperimentConfig, CellContent]:
    """The validated config of one cell and its resolved content.

    The cell's values are set into a copy of the experiment file as parsed values (what its
    override texts parse back to, `render_value`), and its scenario is loaded, hence checked,
    once per distinct scenario (`resolved_content`), not once per cell.
    """
    path, shown = where
    try:
        data = _with_values(raw, cell.params, path)
        config = ExperimentConfig.from_dict(data, source=path, check_files=False)
        problem = model_problem(config.llm.model)
        if problem:
            raise ConfigError(problem, source=path, path="llm.model")
        return config, resolved_content(config, cache)
    except (ConfigError, PolicyError) as exc:
        raise _cell_error(spec, path, shown, cell, exc) from None


def _with_values(raw: dict[str, Any], params: dict[str, Any], source: Path) -> dict[str, Any]:
    """``raw`` with each dotted key of ``params`` set (`set_dotted`), copying only the mappings
    on the keys' paths (a deep copy of the whole experiment for every cell cost more than
    validating it); the rest is shared with ``raw``, which validation only reads."""
    out = dict(raw)
    for key, value in params.items():
        node = out
        for part in key.split(".")[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):  # a list (items by id) or nothing yet: copy it whole
                if child is not None:
                    node[part] = copy.deepcopy(child)
                break
            node[part] = node = dict(child)
        set_dotted(out, key, copy.deepcopy(value), source=source)
    return out


def _cell_error(spec: SweepSpec, path: Path, shown: str, cell: _Cell, exc: ConfigError | PolicyError) -> ConfigError:
    params = ", ".join(f"{k}: {render_value(v)}" for k, v in cell.params.items())
    parts = [f"cell {shown}" + (f" {{{params}}}" if params else "")]
    if isinstance(exc, PolicyError):
        return ConfigError(exc.one_line(), source=spec.source, path=parts[0])
    if exc.source and Path(exc.source).resolve() != path:
        parts.append(exc.source)  # the problem is in another file (the scenario, a policy)
    if exc.path:
        parts.append(exc.path)
    return ConfigError(exc.message, source=spec.source, path=": ".join(parts))


def _glob(base: Path, pattern: str) -> list[tuple[Path, str]]:
    """Files matching ``pattern`` (sorted) in the first of ``base`` and its parents with any."""
    roots = [None] if Path(pattern).is_absolute() else [base, *base.parents]
    for root in roots:
        found = sorted(glob.glob(pattern, root_dir=root, recursive=True))
        hits = [(Path(root or "/") / p, p) for p in found if (Path(root or "/") / p).is_file()]
        if hits:
            return hits
    return []


def _run_id(config: ExperimentConfig, key: str) -> str:
    model = config.llm.model.rsplit("/", 1)[-1]
    slug = "".join(c if c.isalnum() or c in "_.-" else "_" for c in model)[:24].strip("_.-")
    return f"{config.name}-{key[:16]}" + (f"-{slug}" if slug else "")


def _load(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return _Unparsable


class _Unparsable:
    """Marks override text YAML could not parse back."""


def _same(a: Any, b: Any) -> bool:
    # JSON text tells 1, 1.0 and true apart, which == does not.
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)
