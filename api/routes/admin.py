"""Administration: API keys (create, list, revoke) and the registry's audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from api.deps import AuditReader, ConnDep, KeysAdmin
from api.errors import invalid_fields
from api.registry_errors import answered
from api.routing import guarded
from api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeysPublic,
    AuditEntryPublic,
    AuditPublic,
)
from storage import apikeys, audit
from storage.errors import NotFoundError

router = APIRouter(tags=["admin"])


@router.get("/api-keys", operation_id="apikeys-list", **guarded("keys:manage"))
async def list_keys(conn: ConnDep, who: KeysAdmin, include_revoked: bool = False) -> ApiKeysPublic:
    data = [
        ApiKeyPublic.model_validate(k)
        for k in await apikeys.list_keys(conn, include_revoked=include_revoked)
    ]
    return ApiKeysPublic(data=data, count=len(data))


@router.post(
    "/api-keys",
    operation_id="apikeys-create",
    **guarded("keys:manage", 409),
    status_code=status.HTTP_201_CREATED,
)
async def create_key(body: ApiKeyCreate, conn: ConnDep, who: KeysAdmin) -> ApiKeyCreated:
    """The token is in this answer only; store it now (only its hash is kept)."""
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise invalid_fields([(("expires_at",), "must be in the future")])
    with answered():
        try:
            token, row = await apikeys.create(
                conn,
                name=body.name,
                role=body.role,
                site_ids=body.site_ids,
                expires_at=body.expires_at,
                actor=who.actor,
            )
        except NotFoundError as exc:  # unknown site ids in the scope
            raise invalid_fields([(("site_ids",), str(exc))]) from exc
    return ApiKeyCreated(**ApiKeyPublic.model_validate(row).model_dump(), token=token)


@router.delete(
    "/api-keys/{key_id}", operation_id="apikeys-revoke", **guarded("keys:manage", 404, 409)
)
async def revoke_key(key_id: str, conn: ConnDep, who: KeysAdmin) -> ApiKeyPublic:
    with answered():
        row = await apikeys.revoke(conn, key_id, actor=who.actor)
    return ApiKeyPublic.model_validate(row)


@router.get("/audit", operation_id="audit-list", **guarded("audit:read"))
async def audit_log(
    conn: ConnDep,
    who: AuditReader,
    entity: Literal["site", "device", "api_key", "meter_swap", "counter_register"] | None = None,
    entity_id: str | None = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPublic:
    """Registry changes, newest first (page with `before_id` = the last id you got)."""
    rows = await audit.entries(
        conn, entity=entity, entity_id=entity_id, before_id=before_id, limit=limit
    )
    data = [AuditEntryPublic.model_validate(r) for r in rows]
    return AuditPublic(data=data, count=len(data))
