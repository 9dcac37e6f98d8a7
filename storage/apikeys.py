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
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_keys (id, name, secret_sha256, role, site_ids, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (key_id, name, _digest(secret), role, site_ids, expires_at),
    )
    return f"{PREFIX}_{key_id}_{secret}"


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
