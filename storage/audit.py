"""The registry's audit log: who changed what, when, with the old and new public values.

Rows are appended in the same transaction as the change they describe (a change without
its audit row cannot commit). The table refuses UPDATE, DELETE and TRUNCATE (migration 0007).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

Entity = Literal["site", "device", "api_key", "meter_swap", "counter_register"]


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None


async def record(
    conn: AsyncConnection[Any],
    *,
    actor: str,
    entity: Entity,
    entity_id: str,
    action: str,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, entity, entity_id, action, old_value, new_value) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (
            actor,
            entity,
            entity_id,
            action,
            None if old is None else Jsonb(old),
            None if new is None else Jsonb(new),
        ),
    )


async def entries(
    conn: AsyncConnection[Any],
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    """Newest first; `before_id` pages backwards."""
    async with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        await cur.execute(
            """
            SELECT id, at, actor, entity, entity_id, action, old_value, new_value
            FROM audit_log
            WHERE (%(entity)s::text IS NULL OR entity = %(entity)s::text)
              AND (%(entity_id)s::text IS NULL OR entity_id = %(entity_id)s::text)
              AND (%(before)s::bigint IS NULL OR id < %(before)s::bigint)
            ORDER BY id DESC LIMIT %(limit)s
            """,
            {"entity": entity, "entity_id": entity_id, "before": before_id, "limit": limit},
        )
        return await cur.fetchall()
