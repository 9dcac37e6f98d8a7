"""Data-quality observations of counter registers: the typed face of the SQL function
`icone_counter_observations` (migration 0006), which classifies steps with the same rule as
the consumption figures (`icone_counter_step_kind`), so an observation explains a figure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

from storage.errors import StorageError

ObservationKind = Literal["reset", "rollover", "step_back", "swap"]

OBSERVATIONS_SQL = "SELECT * FROM icone_counter_observations(%s, %s, %s, %s)"


@dataclass(frozen=True, slots=True)
class CounterObservation:
    dev_eui: str
    site_id: str | None
    metric: str
    channel: str
    time: datetime
    kind: ObservationKind
    previous: float | None  # the step's first point (a swap: the old meter's final index)
    value: float  # its second point (a swap: the new meter's initial index)
    size: float | None  # what the figures counted for the step; None for a swap (series cut)
    unit: str


async def counter_observations(
    conn: psycopg.AsyncConnection[Any],
    start: datetime,
    end: datetime,
    *,
    site_id: str | None = None,
    dev_eui: str | None = None,
) -> list[CounterObservation]:
    """Resets, rollovers, step backs and swaps in [start, end), ordered by device, metric,
    channel and time."""
    try:
        async with conn.cursor(row_factory=class_row(CounterObservation)) as cur:
            await cur.execute(OBSERVATIONS_SQL, (start, end, site_id, dev_eui))
            return await cur.fetchall()
    except psycopg.Error as exc:
        raise StorageError(f"data-quality query failed: {exc}") from exc
