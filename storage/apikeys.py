"""API keys: `icone_<id>_<secret>`; only a SHA-256 of the secret is stored.

The secret is 32 random bytes, so a fast hash is enough (no password stretching needed);
the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.rows import class_row

from storage import audit, sites
from storage.errors import AlreadyExists, NotFoundError

PREFIX = "icone"
ROLES = ("admin", "energy_manager", "technician", "reporting")


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: str
    site_ids: tuple[str, ...] | None  # None = every site


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_key(
    conn: psycopg.Connection[Any],
    name: str,
    role: str,
    site_ids: list[str] | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a key and return its full token (shown once, never stored in clear)."""
    key_id, secret = _new_secret(role)
    conn.execute(_INSERT_SQL, (key_id, name, _digest(secret), role, site_ids, expires_at))
    return f"{PREFIX}_{key_id}_{secret}"


def _new_secret(role: str) -> tuple[str, str]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return secrets.token_hex(8), secrets.token_urlsafe(32)


_INSERT_SQL = (
    "INSERT INTO api_keys (id, name, secret_sha256, role, site_ids, expires_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def split_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def verify(row: tuple[Any, ...] | None, secret: str) -> ApiKey | None:
    """Check a row (id, name, secret_sha256, role, site_ids) fetched for the key id."""
    if row is None:
        hmac.compare_digest(_digest(secret), b"\0" * 32)  # same work whether or not the id exists
        return None
    key_id, name, stored, role, site_ids = row
    if not hmac.compare_digest(bytes(stored), _digest(secret)):
        return None
    return ApiKey(
        id=key_id, name=name, role=role, site_ids=tuple(site_ids) if site_ids is not None else None
    )


LOOKUP_SQL = (
    "SELECT id, name, secret_sha256, role, site_ids FROM api_keys "
    "WHERE id = %s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
)


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """A key as administrators see it: never its secret or digest."""

    id: str
    name: str
    role: str
    site_ids: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def public(self) -> dict[str, Any]:
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


_ROW_SQL = "SELECT id, name, role, site_ids, created_at, expires_at, revoked_at FROM api_keys"


async def lookup(conn: AsyncConnection[Any], key_id: str) -> tuple[Any, ...] | None:
    """The row `verify` checks, if the key is live."""
    cur = await conn.execute(LOOKUP_SQL, (key_id,))
    return await cur.fetchone()


async def get(conn: AsyncConnection[Any], key_id: str) -> ApiKeyRow | None:
    async with conn.cursor(row_factory=class_row(ApiKeyRow)) as cur:
        await cur.execute(_ROW_SQL + " WHERE id = %s", (key_id,))
        return await cur.fetchone()


async def list_keys(conn: AsyncConnection[Any], *, include_revoked: bool) -> list[ApiKeyRow]:
    async with conn.cursor(row_factory=class_row(ApiKeyRow)) as cur:
        await cur.execute(
            _ROW_SQL + " WHERE %s OR revoked_at IS NULL ORDER BY created_at, id",
            (include_revoked,),
        )
        return await cur.fetchall()


async def create(
    conn: AsyncConnection[Any],
    *,
    name: str,
    role: str,
    site_ids: list[str] | None,
    expires_at: datetime | None,
    actor: str,
) -> tuple[str, ApiKeyRow]:
    """Create a key (site scopes must name existing sites); returns its token, shown once."""
    if site_ids is not None:
        unknown = sorted(set(site_ids) - await sites.existing_ids(conn, site_ids))
        if unknown:
            raise NotFoundError(f"unknown site(s): {', '.join(unknown)}")
    key_id, secret = _new_secret(role)
    try:
        async with conn.transaction():
            await conn.execute(
                _INSERT_SQL, (key_id, name, _digest(secret), role, site_ids, expires_at)
            )
    except errors.UniqueViolation as exc:
        raise AlreadyExists(f"a live API key is named {name!r} already") from exc
    row = await get(conn, key_id)
    assert row is not None  # inserted above
    await audit.record(
        conn, actor=actor, entity="api_key", entity_id=key_id, action="create", new=row.public()
    )
    return f"{PREFIX}_{key_id}_{secret}", row


async def revoke(conn: AsyncConnection[Any], key_id: str, *, actor: str) -> ApiKeyRow:
    old = await get(conn, key_id)
    if old is None:
        raise NotFoundError(f"API key {key_id} not found")
    if old.revoked_at is not None:
        return old  # revoking twice changes nothing
    await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (key_id,))
    new = await get(conn, key_id)
    assert new is not None
    await audit.record(
        conn,
        actor=actor,
        entity="api_key",
        entity_id=key_id,
        action="revoke",
        old=old.public(),
        new=new.public(),
    )
    return new
