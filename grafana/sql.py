"""A small typed builder for the SQL of panels and alert rules.

The foundation SDK has no PostgreSQL query type (grafana/sqlquery.py adds the target); this
module builds the query text. Queries only select from the storage layer's read interface
(functions and views of storage/migrations): they shape figures for display (columns, order,
a filter on variables), they never compute one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# The dashboard's time range as timestamptz (the macros expand to quoted UTC strings).
RANGE_FROM = "$__timeFrom()::timestamptz"
RANGE_TO = "$__timeTo()::timestamptz"


class Format(StrEnum):
    """Grafana's SQL result formats: time series need a `time` column; alert rules accept only
    time series."""

    TIME_SERIES = "time_series"
    TABLE = "table"


def lit(text: str) -> str:
    """An SQL string literal (our own constants only; variables go through `var_*`)."""
    return "'" + text.replace("'", "''") + "'"


def call(function: str, *args: str) -> str:
    return f"{function}({', '.join(args)})"


def alias(expression: str, name: str) -> str:
    return f'{expression} AS "{name}"'


def var_in(column: str, variable: str) -> str:
    """`column IN ('a','b')` for a multi-value / include-All variable."""
    return f"{column} IN (${variable})"


def var_text(variable: str) -> str:
    """A single-value variable as an SQL string literal, quoted by Grafana."""
    return f"${{{variable}:sqlstring}}"


def since_hours_before_to(hours: int) -> str:
    """The later of the range start and `hours` before its end: raw-table panels (uplinks,
    events) never read more than that, whatever range the dashboard shows."""
    return f"greatest({RANGE_FROM}, {RANGE_TO} - interval '{hours} hours')"


@dataclass(frozen=True, slots=True)
class Select:
    columns: tuple[str, ...]
    source: str
    where: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    distinct_on: tuple[str, ...] = ()
    ctes: tuple[tuple[str, Select], ...] = field(default=())

    def render(self) -> str:
        parts = []
        if self.ctes:
            parts.append(
                "WITH " + ",\n".join(f"{name} AS (\n{q.render()}\n)" for name, q in self.ctes)
            )
        distinct = f"DISTINCT ON ({', '.join(self.distinct_on)}) " if self.distinct_on else ""
        parts.append("SELECT " + distinct + ",\n       ".join(self.columns))
        parts.append("FROM " + self.source)
        if self.where:
            parts.append("WHERE " + "\n  AND ".join(self.where))
        if self.group_by:
            parts.append("GROUP BY " + ", ".join(self.group_by))
        if self.order_by:
            parts.append("ORDER BY " + ", ".join(self.order_by))
        if self.limit is not None:
            parts.append(f"LIMIT {self.limit}")
        return "\n".join(parts)
