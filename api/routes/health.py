"""GET /health: liveness, database reachability and storage mode (no authentication)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import psycopg
from fastapi import APIRouter, Depends
from psycopg_pool import AsyncConnectionPool

from api.deps import get_pool
from api.routing import guarded
from api.schemas import Health

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("icone")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", operation_id="health-get", **guarded(None, parameters=False))
async def health(pool: AsyncConnectionPool[Any] = Depends(get_pool)) -> Health:  # noqa: B008
    try:
        async with pool.connection(timeout=5) as conn:
            cur = await conn.execute(
                "SELECT mode, version FROM icone_schema ORDER BY version DESC LIMIT 1"
            )
            row = await cur.fetchone()
    except psycopg.Error:
        return Health(
            status="degraded",
            database="unreachable",
            storage_mode=None,
            schema_version=None,
            version=_version(),
        )
    return Health(
        status="ok",
        database="ok",
        storage_mode=str(row[0]) if row else None,
        schema_version=int(row[1]) if row else None,
        version=_version(),
    )
