"""Running the exported boards' and rules' SQL the way Grafana would: variables resolved from
their own queries, macros expanded (grafana.macros), executed as the read-only role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from grafana.macros import QueryContext, VariableValue, expand

# (name, range length, $__interval Grafana would pick for a ~1,000 px wide panel)
RANGES = (
    ("last 6 h", timedelta(hours=6), timedelta(minutes=1)),
    ("last 30 days", timedelta(days=30), timedelta(minutes=30)),
    ("last year", timedelta(days=365), timedelta(hours=12)),
)


@dataclass(frozen=True, slots=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run(conn: psycopg.Connection[Any], text: str) -> Result:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(text.encode())  # expanded text, as Grafana sends it (no parameters)
        columns = [c.name for c in cur.description or []]
        return Result(columns, cur.fetchall())


def variable_values(
    conn: psycopg.Connection[Any], board: dict[str, Any], ctx: QueryContext, all_selected: bool
) -> dict[str, VariableValue]:
    """Every variable of the board, resolved in order as Grafana does on load: "All" for
    multi-value variables (every option's value) or their first option only; custom
    variables take their first (default) value."""
    values: dict[str, VariableValue] = {}
    for var in board.get("templating", {}).get("list", []):
        name = var["name"]
        if var["type"] == "query":
            result = run(conn, expand(var["query"], ctx, values))
            col = result.columns.index("__value") if "__value" in result.columns else 0
            options = tuple(str(row[col]) for row in result.rows)
        elif var["type"] == "custom":
            options = tuple(v.strip() for v in var["query"].split(","))
        else:
            raise AssertionError(f"variable type {var['type']} not handled by the test")
        assert options, f"variable ${name} has no option for the demo fleet"
        if var.get("multi") or var.get("includeAll"):
            values[name] = VariableValue(options if all_selected else options[:1], True)
        else:
            values[name] = VariableValue(options[0], False)
    return values


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def context(
    now: datetime, length: timedelta, interval: timedelta, timescaledb: bool
) -> QueryContext:
    return QueryContext(now - length, now, interval, timescaledb)
