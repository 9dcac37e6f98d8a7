"""Reads behind the technician's view of a device and the list of devices heard on the network
but not registered. Link figures come from the SQL function `icone_link_quality` (0007)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from storage.readings import Reading

RECENT_UPLINKS = 10


@dataclass(frozen=True, slots=True)
class Milestones:
    join_seen: datetime | None
    first_uplink: datetime | None
    last_uplink: datetime | None


@dataclass(frozen=True, slots=True)
class Link:
    uplinks: int
    rssi: float | None
    snr: float | None
    spreading_factor: int | None
    snr_margin: float | None
    verdict: str


@dataclass(frozen=True, slots=True)
class GatewayCount:
    gateway_id: str
    uplinks: int
    last_heard: datetime


@dataclass(frozen=True, slots=True)
class Problem:
    time: datetime
    kind: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Heard:
    dev_eui: str
    first_heard: datetime
    last_heard: datetime
    uplinks: int
    dead_letters: int
    best_rssi: int | None
    last_reason: str | None


async def milestones(conn: AsyncConnection[Any], dev_eui: str) -> Milestones:
    async with conn.cursor(row_factory=class_row(Milestones)) as cur:
        await cur.execute(
            """
            SELECT (SELECT max(time) FROM network_events
                    WHERE dev_eui = %(d)s AND event_type = 'join') AS join_seen,
                   (SELECT min(time) FROM uplinks WHERE dev_eui = %(d)s) AS first_uplink,
                   (SELECT max(time) FROM uplinks WHERE dev_eui = %(d)s) AS last_uplink
            """,
            {"d": dev_eui},
        )
        row = await cur.fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    return row


async def link(conn: AsyncConnection[Any], dev_eui: str) -> Link:
    async with conn.cursor(row_factory=class_row(Link)) as cur:
        await cur.execute("SELECT * FROM icone_link_quality(%s, %s)", (dev_eui, RECENT_UPLINKS))
        row = await cur.fetchone()
    assert row is not None  # an aggregate returns one row
    return row


async def gateways(conn: AsyncConnection[Any], dev_eui: str) -> list[GatewayCount]:
    async with conn.cursor(row_factory=class_row(GatewayCount)) as cur:
        await cur.execute(
            """
            WITH recent AS (
                SELECT time, gateway_ids FROM uplinks WHERE dev_eui = %s
                ORDER BY time DESC LIMIT %s
            )
            SELECT g AS gateway_id, count(*)::int AS uplinks, max(time) AS last_heard
            FROM recent, unnest(gateway_ids) AS g
            GROUP BY g ORDER BY count(*) DESC, g
            """,
            (dev_eui, RECENT_UPLINKS),
        )
        return await cur.fetchall()


async def last_values(conn: AsyncConnection[Any], dev_eui: str) -> list[Reading]:
    """The measurements of the device's latest reading time."""
    async with conn.cursor(row_factory=class_row(Reading)) as cur:
        await cur.execute(
            """
            SELECT time, metric, channel, value FROM measurements
            WHERE dev_eui = %(d)s
              AND time = (SELECT max(time) FROM measurements WHERE dev_eui = %(d)s)
            ORDER BY metric, channel
            """,
            {"d": dev_eui},
        )
        return await cur.fetchall()


async def battery(conn: AsyncConnection[Any], dev_eui: str) -> Reading | None:
    async with conn.cursor(row_factory=class_row(Reading)) as cur:
        await cur.execute(
            """
            SELECT time, metric, channel, value FROM measurements
            WHERE dev_eui = %s AND metric IN ('battery_level', 'battery_voltage')
            ORDER BY time DESC, metric LIMIT 1
            """,
            (dev_eui,),
        )
        return await cur.fetchone()


async def problems(conn: AsyncConnection[Any], dev_eui: str, limit: int = 20) -> list[Problem]:
    """Recent decode failures and warnings, dead letters and active alarms, newest first."""
    async with conn.cursor(row_factory=class_row(Problem)) as cur:
        await cur.execute(
            """
            (SELECT time, 'decode' AS kind, decode_status AS code, '' AS detail
             FROM uplinks WHERE dev_eui = %(d)s AND decode_status IN ('errors', 'warnings')
             ORDER BY time DESC LIMIT %(n)s)
            UNION ALL
            (SELECT last_seen_at, 'dead_letter', stage, reason FROM dead_letters
             WHERE dev_eui = %(d)s AND replayed_at IS NULL
             ORDER BY last_seen_at DESC LIMIT %(n)s)
            UNION ALL
            (SELECT time, 'alarm', code, detail FROM device_events
             WHERE dev_eui = %(d)s AND active ORDER BY time DESC LIMIT %(n)s)
            ORDER BY 1 DESC LIMIT %(n)s
            """,
            {"d": dev_eui, "n": limit},
        )
        return await cur.fetchall()


async def heard_unregistered(conn: AsyncConnection[Any], limit: int = 200) -> list[Heard]:
    """Devices whose uplinks reached us (stored as unknown devices, or dead-lettered) but that
    the registry does not have, most recently heard first. (A retired device that still
    talks is in the registry: its technician view shows it.)"""
    async with conn.cursor(row_factory=class_row(Heard)) as cur:
        await cur.execute(
            """
            WITH up AS (
                SELECT dev_eui, min(time) AS first_t, max(time) AS last_t, count(*) AS n,
                       max(rssi) AS best_rssi
                FROM uplinks WHERE decode_status = 'unknown_device' GROUP BY dev_eui
            ),
            dl AS (
                SELECT dev_eui, min(received_at) AS first_t, max(last_seen_at) AS last_t,
                       count(*) AS n,
                       (array_agg(reason ORDER BY last_seen_at DESC))[1] AS reason
                FROM dead_letters
                WHERE dev_eui IS NOT NULL AND replayed_at IS NULL GROUP BY dev_eui
            )
            SELECT coalesce(up.dev_eui, dl.dev_eui) AS dev_eui,
                   least(up.first_t, dl.first_t) AS first_heard,
                   greatest(up.last_t, dl.last_t) AS last_heard,
                   coalesce(up.n, 0)::int AS uplinks,
                   coalesce(dl.n, 0)::int AS dead_letters,
                   up.best_rssi, dl.reason AS last_reason
            FROM up FULL JOIN dl ON dl.dev_eui = up.dev_eui
            WHERE NOT EXISTS (
                SELECT 1 FROM devices d WHERE d.dev_eui = coalesce(up.dev_eui, dl.dev_eui)
            )
            ORDER BY last_heard DESC LIMIT %s
            """,
            (limit,),
        )
        return await cur.fetchall()


async def dead_letter_ids(conn: AsyncConnection[Any], dev_eui: str) -> list[int]:
    """The device's dead letters not yet replayed (what registering it should replay)."""
    cur = await conn.execute(
        "SELECT id FROM dead_letters WHERE dev_eui = %s AND replayed_at IS NULL ORDER BY id",
        (dev_eui,),
    )
    return [int(row[0]) for row in await cur.fetchall()]
