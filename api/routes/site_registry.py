"""Registering sites: create, read, change, retire (history kept). Scoped keys reach only
their sites and cannot create new ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from api.auth import Principal
from api.concurrency import expected_version, set_etag
from api.deps import ConnDep, SitesReader, SitesWriter
from api.errors import Conflict, Forbidden, NotFound, invalid_fields
from api.registry_errors import answered
from api.routing import guarded
from api.schemas import SiteCreate, SiteDetail, SiteUpdate
from registry.models import db_values
from storage import sites
from storage.sites import SiteRow

router = APIRouter(prefix="/sites", tags=["registry"])


async def _site_in_scope(conn: ConnDep, site_id: str, who: Principal) -> SiteRow:
    row = await sites.get(conn, site_id)
    if row is None or not who.sees_site(row.id):
        raise NotFound(f"site {site_id} not found")
    return row


def _detail(row: SiteRow, response: Response) -> SiteDetail:
    set_etag(response, row.version)
    return SiteDetail.model_validate(row)


@router.post(
    "",
    operation_id="sites-create",
    **guarded("sites:write", 409),
    status_code=status.HTTP_201_CREATED,
)
async def create_site(
    body: SiteCreate, conn: ConnDep, who: SitesWriter, response: Response
) -> SiteDetail:
    if who.scoped:
        raise Forbidden("a site-scoped key cannot create sites")
    with answered():
        row = await sites.create(conn, db_values(body, exclude=set()), actor=who.actor)
    response.headers["Location"] = f"/sites/{row.id}"
    return _detail(row, response)


@router.get("/{site_id}", operation_id="sites-get", **guarded("sites:read", 404))
async def get_site(site_id: str, conn: ConnDep, who: SitesReader, response: Response) -> SiteDetail:
    """The site, with its ETag (send it back in If-Match to change it)."""
    return _detail(await _site_in_scope(conn, site_id, who), response)


@router.patch(
    "/{site_id}", operation_id="sites-update", **guarded("sites:write", 404, 409, 412, 428)
)
async def update_site(
    site_id: str,
    body: SiteUpdate,
    conn: ConnDep,
    who: SitesWriter,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> SiteDetail:
    await _site_in_scope(conn, site_id, who)
    values = db_values(body, exclude=set())
    cleared = [(f,) for f in ("name", "kind") if f in values and values[f] is None]
    if cleared:
        raise invalid_fields((loc, "cannot be cleared") for loc in cleared)
    with answered():
        row = await sites.update(
            conn, site_id, values, expected_version=expected_version(if_match), actor=who.actor
        )
    return _detail(row, response)


@router.delete(
    "/{site_id}", operation_id="sites-retire", **guarded("sites:write", 404, 409, 412, 428)
)
async def retire_site(
    site_id: str,
    conn: ConnDep,
    who: SitesWriter,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> SiteDetail:
    """Retire a site (kept with its history). Its active devices must be retired first."""
    current = await _site_in_scope(conn, site_id, who)
    if current.devices:
        raise Conflict(f"site {site_id} still has {current.devices} active device(s)")
    with answered():
        row = await sites.update(
            conn,
            site_id,
            {},
            expected_version=expected_version(if_match),
            actor=who.actor,
            action="retire",
            status="retired",
        )
    return _detail(row, response)
