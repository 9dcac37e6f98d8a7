"""A device's stored readings and uplinks, as the API lists them (newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class Reading:
    time: datetime
    metric: str
    channel: str
    value: float


@dataclass(frozen=True, slots=True)
class UplinkSummary:
    time: datetime
    f_cnt: int | None
    f_port: int | None
    rssi: int | None
    snr: float | None
    gateway_count: int | None
    spreading_factor: int | None
    decode_status: str
    time_source: str


async def measurements(
    conn: AsyncConnection[Any],
    dev_eui: str,
    *,
    metric: str | None,
    channel: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Reading]:
    async with conn.cursor(row_factory=class_row(Reading)) as cur:
        await cur.execute(
            """
            SELECT time, metric, channel, value FROM measurements
            WHERE dev_eui = %(dev)s
              AND (%(metric)s::text IS NULL OR metric = %(metric)s::text)
              AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
              AND (%(since)s::timestamptz IS NULL OR time >= %(since)s::timestamptz)
              AND (%(until)s::timestamptz IS NULL OR time < %(until)s::timestamptz)
            ORDER BY time DESC, metric, channel LIMIT %(limit)s
            """,
            {
                "dev": dev_eui,
                "metric": metric,
                "channel": channel,
                "since": since,
                "until": until,
                "limit": limit,
            },
        )
        return await cur.fetchall()


async def uplinks(conn: AsyncConnection[Any], dev_eui: str, *, limit: int) -> list[UplinkSummary]:
    async with conn.cursor(row_factory=class_row(UplinkSummary)) as cur:
        await cur.execute(
            """
            SELECT time, f_cnt, f_port, rssi, snr, gateway_count, spreading_factor,
                   decode_status, time_source
            FROM uplinks WHERE dev_eui = %s ORDER BY time DESC LIMIT %s
            """,
            (dev_eui, limit),
        )
        return await cur.fetchall()
