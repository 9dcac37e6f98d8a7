"""Sites of the registry: one async repository shared by the API and the command line.

Writers pass the caller's transaction; each change appends its audit row in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from psycopg import AsyncConnection, errors, sql
from psycopg.rows import class_row

from storage import audit, changes
from storage.errors import AlreadyExists, NotFoundError, StaleVersion

WRITABLE = (
    "name",
    "kind",
    "address",
    "floor_area_m2",
    "operat_id",
    "latitude",
    "longitude",
)
SiteKind = Literal[
    "building",
    "school",
    "office",
    "datacenter",
    "server_room",
    "pumping_station",
    "sports",
    "dwelling",
    "other",
]  # the CHECK of sites.kind (0001)
KINDS: tuple[str, ...] = get_args(SiteKind)


@dataclass(frozen=True, slots=True)
class SiteRow:
    id: str
    name: str
    kind: str
    address: str | None
    floor_area_m2: float | None
    operat_id: str | None
    latitude: float | None
    longitude: float | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    devices: int  # devices not retired

    def public(self) -> dict[str, Any]:
        """The values the audit log keeps (JSON-ready)."""
        values = dataclasses.asdict(self)
        del values["devices"]
        for key in ("created_at", "updated_at"):
            values[key] = values[key].isoformat()
        return values


_SELECT = sql.SQL(
    """
    SELECT s.id, s.name, s.kind, s.address, s.floor_area_m2, s.operat_id, s.latitude,
           s.longitude, s.status, s.version, s.created_at, s.updated_at,
           (SELECT count(*) FROM devices d
            WHERE d.site_id = s.id AND d.status <> 'retired')::int AS devices
    FROM sites s
    """
)


async def get(conn: AsyncConnection[Any], site_id: str, *, lock: bool = False) -> SiteRow | None:
    query = _SELECT + sql.SQL(" WHERE s.id = %s")
    if lock:
        query += sql.SQL(" FOR UPDATE OF s")
    async with conn.cursor(row_factory=class_row(SiteRow)) as cur:
        await cur.execute(query, (site_id,))
        return await cur.fetchone()


async def list_sites(
    conn: AsyncConnection[Any], *, scope: list[str] | None, include_retired: bool = False
) -> list[SiteRow]:
    query = _SELECT + sql.SQL(
        """ WHERE (%(scope)s::text[] IS NULL OR s.id = ANY(%(scope)s::text[]))
              AND (%(retired)s OR s.status <> 'retired')
            ORDER BY s.id"""
    )
    async with conn.cursor(row_factory=class_row(SiteRow)) as cur:
        await cur.execute(query, {"scope": scope, "retired": include_retired})
        return await cur.fetchall()


async def existing_ids(conn: AsyncConnection[Any], ids: Collection[str]) -> set[str]:
    cur = await conn.execute("SELECT id FROM sites WHERE id = ANY(%s)", (list(ids),))
    return {str(row[0]) for row in await cur.fetchall()}


async def create(conn: AsyncConnection[Any], values: Mapping[str, Any], *, actor: str) -> SiteRow:
    row = changes.checked(values, ("id", *WRITABLE))
    try:
        async with conn.transaction():
            await conn.execute(changes.insert("sites", row, sql.SQL("id")), row)
    except errors.UniqueViolation as exc:
        raise AlreadyExists(f"site {row['id']} exists already") from exc
    created = await get(conn, row["id"])
    assert created is not None  # just inserted in this transaction
    await audit.record(
        conn,
        actor=actor,
        entity="site",
        entity_id=created.id,
        action="create",
        new=created.public(),
    )
    return created


async def update(
    conn: AsyncConnection[Any],
    site_id: str,
    values: Mapping[str, Any],
    *,
    expected_version: int,
    actor: str,
    action: str = "update",
    status: str | None = None,
) -> SiteRow:
    """Apply `values` if the site is still at `expected_version`; audit old and new."""
    row = changes.checked(values, WRITABLE)
    if status is not None:
        row["status"] = status
    old = await get(conn, site_id, lock=True)
    if old is None:
        raise NotFoundError(f"site {site_id} not found")
    if old.version != expected_version:
        raise StaleVersion(f"site {site_id} is at version {old.version}", old.version)
    await conn.execute(changes.update("sites", "id", row), {**row, "_key": site_id})
    new = await get(conn, site_id)
    assert new is not None  # locked above
    await audit.record(
        conn,
        actor=actor,
        entity="site",
        entity_id=site_id,
        action=action,
        old=old.public(),
        new=new.public(),
    )
    return new
