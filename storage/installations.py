"""A technician's recent installations and their health, for planning return visits.

"Installed by" is read from the audit log (the `create` of each device, by the caller's
actor), so it needs no column of its own and cannot disagree with the registry's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

# Battery below this share is "low" (the vocabulary's battery_level is in %).
LOW_BATTERY_PCT = 20.0


@dataclass(frozen=True, slots=True)
class Installation:
    dev_eui: str
    model: str
    name: str
    site_id: str | None
    location: str
    status: str
    registered_at: datetime
    last_uplink: datetime | None
    battery_level: float | None  # %, latest reading, when the model reports it
    link_verdict: str  # icone_link_verdict over the recent uplinks: good/marginal/poor/unknown
    decode_problems: int  # uplinks with decode errors, and open dead letters, in the last 7 days


async def recent_installations(
    conn: AsyncConnection[Any],
    actor: str,
    *,
    since: datetime,
    site_ids: list[str] | None,
    limit: int = 50,
) -> list[Installation]:
    """Devices whose registry `create` was done by `actor` since `since`, newest first,
    within the site scope (None: every site)."""
    async with conn.cursor(row_factory=class_row(Installation)) as cur:
        await cur.execute(
            """
            WITH mine AS (
                SELECT a.entity_id AS dev_eui, max(a.at) AS registered_at
                FROM audit_log a
                WHERE a.entity = 'device' AND a.action = 'create' AND a.actor = %(actor)s
                  AND a.at >= %(since)s
                GROUP BY a.entity_id
            )
            SELECT d.dev_eui, d.model, d.name, d.site_id, d.location, d.status,
                   m.registered_at,
                   (SELECT max(u.time) FROM uplinks u WHERE u.dev_eui = d.dev_eui) AS last_uplink,
                   (SELECT x.value FROM measurements x
                    WHERE x.dev_eui = d.dev_eui AND x.metric = 'battery_level'
                    ORDER BY x.time DESC LIMIT 1) AS battery_level,
                   (SELECT q.verdict FROM icone_link_quality(d.dev_eui, 10) q) AS link_verdict,
                   ((SELECT count(*) FROM uplinks u
                     WHERE u.dev_eui = d.dev_eui AND u.decode_status = 'errors'
                       AND u.time >= now() - interval '7 days')
                    + (SELECT count(*) FROM dead_letters l
                       WHERE l.dev_eui = d.dev_eui AND l.replayed_at IS NULL
                         AND l.last_seen_at >= now() - interval '7 days'))::integer
                       AS decode_problems
            FROM mine m
            JOIN devices d ON d.dev_eui = m.dev_eui
            WHERE %(scope)s::text[] IS NULL OR d.site_id = ANY (%(scope)s::text[])
            ORDER BY m.registered_at DESC, d.dev_eui
            LIMIT %(limit)s
            """,
            {"actor": actor, "since": since, "scope": site_ids, "limit": limit},
        )
        return await cur.fetchall()
