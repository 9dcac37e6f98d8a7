"""SQL for writing a whitelisted set of columns: INSERT and versioned UPDATE statements built
with `sql.Identifier` (column names never come from a string the caller typed)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from psycopg import sql


def checked(values: Mapping[str, Any], allowed: Collection[str]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"not writable: {', '.join(unknown)}")
    return dict(values)


def insert(table: str, values: Mapping[str, Any], returning: sql.Composable) -> sql.Composed:
    names = list(values)
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder(n) for n in names),
        returning,
    )


def update(table: str, key: str, values: Mapping[str, Any]) -> sql.Composed:
    """UPDATE ... SET the given columns, version + 1, updated_at now(), WHERE key = %(key)s
    (a parameter named `_key`)."""
    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(n), sql.Placeholder(n)) for n in values
    ]
    assignments += [sql.SQL("version = version + 1"), sql.SQL("updated_at = now()")]
    return sql.SQL("UPDATE {} SET {} WHERE {} = %(_key)s").format(
        sql.Identifier(table), sql.SQL(", ").join(assignments), sql.Identifier(key)
    )
