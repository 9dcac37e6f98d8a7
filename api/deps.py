"""FastAPI dependencies: the connection pool, the registry and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.auth import Principal
from api.errors import Forbidden, Unauthorized
from registry.service import Registry
from storage import apikeys


def get_pool(request: Request) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    return pool


async def get_conn(
    pool: Annotated[AsyncConnectionPool[Any], Depends(get_pool)],
) -> AsyncIterator[AsyncConnection[Any]]:
    async with pool.connection() as conn:
        yield conn


ConnDep = Annotated[AsyncConnection[Any], Depends(get_conn)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer icone_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative)")


async def principal(
    request: Request,
    conn: ConnDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> Principal:
    token = bearer.credentials if bearer is not None else header
    if not token:
        raise Unauthorized("an API key is required (Authorization: Bearer icone_...)")
    parts = apikeys.split_token(token)
    if parts is None:
        raise Unauthorized("malformed API key")
    key_id, secret = parts
    request.state.key_id = key_id  # for the access log (api.middleware); never the secret
    key = apikeys.verify(await apikeys.lookup(conn, key_id), secret)
    if key is None:
        raise Unauthorized("invalid, expired or revoked API key")
    return Principal(key)


def require(action: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency factory: the principal, if its role may do `action`."""

    async def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.can(action):
            raise Forbidden(f"role {who.role!r} may not {action}")
        return who

    return dependency


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]
# One alias per action: a route takes `who: DevicesReader` (and its `guarded(...)` entry).
DevicesReader = Annotated[Principal, Depends(require("devices:read"))]
DevicesWriter = Annotated[Principal, Depends(require("devices:write"))]
MeasurementsReader = Annotated[Principal, Depends(require("measurements:read"))]
IndicatorsReader = Annotated[Principal, Depends(require("indicators:read"))]
OperationsReader = Annotated[Principal, Depends(require("operations:read"))]
SitesReader = Annotated[Principal, Depends(require("sites:read"))]
SitesLister = Annotated[Principal, Depends(require("sites:list"))]
SitesWriter = Annotated[Principal, Depends(require("sites:write"))]
KeysAdmin = Annotated[Principal, Depends(require("keys:manage"))]
AuditReader = Annotated[Principal, Depends(require("audit:read"))]
