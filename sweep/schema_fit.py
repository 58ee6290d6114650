"""Rows fitted to a table's canonical schema, whichever run or sweep wrote them.

Tables of different runs and sweeps differ in their ``param_*`` columns (and a file written by
an older or foreign writer may lack a column): `unify` finds one schema for them, `conform` /
`fit` cast rows to it, and `concat` joins pieces of one table. The canonical schemas themselves
are `sweep.tables`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from sweep.tables import SCHEMAS, runs_schema


def unify(schemas: Sequence[Any]) -> Any:
    """One schema for tables written by different runs or sweeps (``param_*`` columns differ).

    Types promote as pyarrow's permissive unification does (int64 + float64 → float64,
    null → anything); a column whose types cannot be promoted (int64 vs string) reads as string.
    """
    plain = [s.remove_metadata() for s in schemas]
    try:
        return pa.unify_schemas(plain, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        fields: dict[str, Any] = {}
        for schema in plain:
            for f in schema:
                seen = fields.setdefault(f.name, f.type)
                if seen != f.type:
                    try:
                        fields[f.name] = (
                            pa.unify_schemas(
                                [pa.schema([(f.name, seen)]), pa.schema([(f.name, f.type)])],
                                promote_options="permissive",
                            )
                            .field(f.name)
                            .type
                        )
                    except (pa.ArrowTypeError, pa.ArrowInvalid):
                        fields[f.name] = pa.string()
        return pa.schema(list(fields.items()))


def target_schema(table: str, schema: Any) -> Any:
    """The canonical schema of ``table``; for ``runs``, with ``schema``'s ``param_*`` columns."""
    if table != "runs":
        return SCHEMAS[table]
    prefix = "param_"
    return runs_schema({f.name[len(prefix) :]: f.type for f in schema if f.name.startswith(prefix)})


def fit(data: Any, schema: Any) -> Any:
    """``data`` with exactly ``schema``'s columns, in order and cast (a missing one is null)."""
    columns = [
        data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(data.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def conform(table: str, data: Any, *, strict: bool = False) -> Any:
    """``data`` with the canonical columns of ``table`` (`fit` to `target_schema`).

    ``strict`` rejects columns the table does not have (used on writes, to catch mistakes).
    """
    target = target_schema(table, data.schema)
    unknown = set(data.column_names) - set(target.names)
    if strict and unknown:
        raise ValueError(f"table {table!r} has no columns {sorted(unknown)}")
    return fit(data, target)


def concat(table: str, pieces: Sequence[Any]) -> Any:
    """The rows of ``pieces`` (tables of ``table`` from any runs and sweeps) as one table."""
    schema = target_schema(table, unify([p.schema for p in pieces]) if pieces else pa.schema([]))
    if not pieces:
        return schema.empty_table()
    return pa.concat_tables([fit(p, schema) for p in pieces])
