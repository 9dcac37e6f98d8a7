"""Consumption figures: the typed Python face of the SQL function `icone_consumption`.

The SQL function is the single definition (the API calls this wrapper, Grafana calls the
function directly): counter deltas with meter swaps, rollovers, resets and gaps spread pro
rata of time, interval quantities summed, in Europe/Paris hour/day/month buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

from decoders.vocabulary import METRICS
from storage.errors import StorageError

Bucket = Literal["hour", "day", "month"]


@dataclass(frozen=True, slots=True)
class ConsumptionRow:
    bucket: datetime  # start of the local (Europe/Paris) hour, day or month
    dev_eui: str
    site_id: str | None
    metric: str
    channel: str
    consumption: float
    unit: str


def consumption(
    conn: psycopg.Connection[Any],
    start: datetime,
    end: datetime,
    bucket: Bucket = "day",
    *,
    site_id: str | None = None,
    metric: str | None = None,
    dev_eui: str | None = None,
) -> list[ConsumptionRow]:
    """Consumption per bucket, device, metric and channel over [start, end).

    The window is widened to whole buckets. Rows are ordered by device, metric, channel, bucket.
    """
    try:
        with conn.cursor(row_factory=class_row(ConsumptionRow)) as cur:
            cur.execute(
                "SELECT * FROM icone_consumption(%s, %s, %s, %s, %s, %s)",
                (start, end, bucket, site_id, metric, dev_eui),
            )
            return cur.fetchall()
    except psycopg.Error as exc:
        raise StorageError(f"consumption query failed: {exc}") from exc


def sync_metric_kinds(conn: psycopg.Connection[Any]) -> int:
    """Upsert decoders.vocabulary into `metric_kinds`; returns the rows inserted or changed."""
    rows = [(m.name, m.kind.value, m.unit) for m in METRICS.values()]
    try:
        with conn.transaction(), conn.cursor() as cur:
            changed = 0
            for row in rows:
                cur.execute(
                    """
                    INSERT INTO metric_kinds (metric, kind, unit) VALUES (%s, %s, %s)
                    ON CONFLICT (metric) DO UPDATE SET kind = excluded.kind, unit = excluded.unit
                    WHERE (metric_kinds.kind, metric_kinds.unit)
                          IS DISTINCT FROM (excluded.kind, excluded.unit)
                    """,
                    row,
                )
                changed += cur.rowcount
            return changed
    except psycopg.Error as exc:
        raise StorageError(f"metric kinds not synchronised: {exc}") from exc
