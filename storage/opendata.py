"""The open-data export: rows of SQL `icone_opendata` (site kind x month, cells under the
delivery-point threshold merged or suppressed there) and the data dictionary that goes with
them. Aggregates only: no site, device or personal-class point ever appears individually."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import class_row

from storage.errors import StorageError

METRICS = {"energy": "energy_active_import_index", "water": "water_volume_index"}


@dataclass(frozen=True, slots=True)
class OpenDataCell:
    month: date
    cell: str
    site_kinds: list[str]
    figure: float | None
    unit: str
    delivery_points: int
    status: str
    note: str


DICTIONARY: list[dict[str, str]] = [
    {"column": "month", "type": "date", "description": "first day of the month (Europe/Paris)"},
    {
        "column": "cell",
        "type": "text",
        "description": "site kind (building, school, office, datacenter, ...), or 'other kinds' "
        "for kinds merged because each had fewer delivery points than the threshold",
    },
    {
        "column": "site_kinds",
        "type": "text",
        "description": "site kinds in the cell, ';'-separated",
    },
    {
        "column": "figure",
        "type": "number",
        "description": "consumption of the cell's meters that month (empty when suppressed)",
    },
    {"column": "unit", "type": "text", "description": "kWh (energy) or m³ (water)"},
    {
        "column": "delivery_points",
        "type": "integer",
        "description": "meters with a figure that month in the cell",
    },
    {"column": "status", "type": "text", "description": "published | merged | suppressed"},
    {"column": "note", "type": "text", "description": "why a cell was merged or suppressed"},
]


def opendata_cells(
    conn: psycopg.Connection[Any], year: int, what: str = "energy", min_points: int = 10
) -> list[OpenDataCell]:
    if what not in METRICS:
        raise StorageError(f"no open-data export for {what!r} (energy or water)")
    try:
        with conn.cursor(row_factory=class_row(OpenDataCell)) as cur:
            cur.execute(
                "SELECT * FROM icone_opendata(%s, %s, %s)", (year, METRICS[what], min_points)
            )
            return cur.fetchall()
    except psycopg.Error as exc:
        raise StorageError(f"open-data query failed: {exc}") from exc
