"""What ``paylab sweep S.yaml --dry-run`` prints: the sweep's settings, its cells and counts.

Up to a screenful of cells (`SCREENFUL`) every cell is listed; past that, the first and the
last `SHOWN` cells and, per varied key, how many cells take each value. The runs are read one
at a time (`DryRunSummary.add`), so a 100 000-cell sweep is summarised without being held.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from typing import Any

from sweep.expand import RunSpec, render_value
from sweep.spec import SweepSpec

SCREENFUL = 40  # cells listed in full up to this many
SHOWN = 10  # cells listed at each end past a screenful
VALUES_SHOWN = 8  # values listed per varied key


class DryRunSummary:
    """Counts and the first and last cells of a stream of runs."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[tuple[int, RunSpec]] = []
        self.last: deque[tuple[int, RunSpec]] = deque(maxlen=SHOWN)
        self.experiments: Counter[str] = Counter()
        self.baselines = 0
        # key → canonical JSON of a value → cells; values keep their first-seen order
        self.values: dict[str, Counter[str]] = {}
        self._shown: dict[tuple[str, str], Any] = {}

    @classmethod
    def of(cls, runs: Iterable[RunSpec]) -> DryRunSummary:
        summary = cls()
        for run in runs:
            summary.add(run)
        return summary

    def add(self, run: RunSpec) -> None:
        self.count += 1
        if len(self.first) < SCREENFUL:
            self.first.append((self.count, run))
        self.last.append((self.count, run))
        self.experiments[run.experiment] += 1
        self.baselines += run.baseline
        for key, value in run.params.items():
            text = json.dumps(value, sort_keys=True, default=repr)
            self.values.setdefault(key, Counter())[text] += 1
            self._shown.setdefault((key, text), value)

    def text(self) -> str:
        keys = list(self.values)
        if self.count <= SCREENFUL:
            lines = [dry_run_table(self.first, keys)]
        else:
            table = dry_run_table([*self.first[:SHOWN], *self.last], keys).splitlines()
            lines = [*table[: 1 + SHOWN], f"… {self.count - 2 * SHOWN:,} more cells …", *table[1 + SHOWN :]]
            lines += ["", "cells per value:"]
            lines += [f"  {key}: {self._axis(key)}" for key in keys]
            lines.append(f"  experiment: {_counts(self.experiments.items())}")
            if self.baselines:
                lines.append(f"  baseline: {self.baselines:,} cells")
        experiments = len(self.experiments)
        lines.append(
            f"{self.count:,} run{'s' if self.count != 1 else ''} "
            f"({experiments} experiment{'s' if experiments != 1 else ''})"
        )
        return "\n".join(lines)

    def _axis(self, key: str) -> str:
        counts = self.values[key]
        shown = [(render_value(self._shown[key, text]), n) for text, n in list(counts.items())[:VALUES_SHOWN]]
        more = len(counts) - len(shown)
        return _counts(shown) + (f", … {more:,} more values ({len(counts):,} in all)" if more else "")


def _counts(items: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{value} ×{n:,}" for value, n in items)


def dry_run_table(runs: Sequence[tuple[int, RunSpec]] | Sequence[RunSpec], keys: Sequence[str] | None = None) -> str:
    """A fixed-width table of numbered runs (run id, experiment, replicate, parameters).

    ``runs`` are `RunSpec`s (numbered from 1) or ``(number, run)`` pairs; ``keys`` the
    parameter columns (default: every key the runs vary, in order).
    """
    numbered = [r if isinstance(r, tuple) else (i + 1, r) for i, r in enumerate(runs)]
    keys = list(keys) if keys is not None else list(dict.fromkeys(k for _, r in numbered for k in r.params))
    headers = ["#", "run_id", "experiment", "rep", *_short_names(keys), "baseline"]
    rows = [
        [
            str(i),
            r.run_id,
            r.experiment,
            str(r.replicate),
            *(render_value(r.params[k]) if k in r.params else "" for k in keys),
            "yes" if r.baseline else "",
        ]
        for i, r in numbered
    ]
    widths = [max(len(row[c]) for row in [headers, *rows]) for c in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]
    )


def describe(spec: SweepSpec, runs: Iterable[RunSpec]) -> str:
    """The dry run's text: the sweep's settings, then `DryRunSummary` of ``runs``."""
    summary = DryRunSummary.of(runs)
    axes = [f"{k} ({len(v)})" for k, v in spec.grid.items()]
    zipped = [f"{k} ({len(v)})" for k, v in spec.zip.items()]
    limits = [f"{k}={v}" for k, v in spec.limits.model_dump(exclude_none=True).items() if k != "concurrency"]
    limits += [f"concurrency[{p}]={n}" for p, n in spec.limits.concurrency.items()]
    lines = [
        f"sweep {spec.name}" + (f" ({spec.source})" if spec.source else ""),
        f"  experiments: {len(summary.experiments)} ({', '.join(summary.experiments)})",
        f"  grid:        {' × '.join(axes) or '-'}",
        f"  zip:         {', '.join(zipped) or '-'}",
        f"  replicates:  {spec.replicates}",
        f"  baseline:    {spec.baseline or '-'}",
        f"  limits:      {', '.join(limits) or '-'}",
        f"  output:      {spec.output_location()}",
        "",
        summary.text(),
    ]
    return "\n".join(lines)


def _short_names(keys: list[str]) -> list[str]:
    """The shortest dotted suffix of each key that is unique among ``keys``."""
    out = []
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            name = ".".join(parts[-n:])
            if sum(k == name or k.endswith("." + name) for k in keys) == 1:
                break
        out.append(name)
    return out
