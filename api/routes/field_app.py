"""The technicians' field app: its static files under /app and the calls only it makes
(who am I, my recent installations with their health, a device's check-up streamed live).

The app (api/field_app/) is plain HTML, CSS and ES modules: nothing to build. It is served
gzip-compressed (the first load is a few tens of kB, for a basement's 4G).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import RedirectResponse

from api.auth import Principal
from api.deps import ConnDep, DevicesReader, DevicesWriter, RegistryDep, require
from api.routes.device_registry import device_in_scope
from api.routes.field import technician_view
from api.routing import guarded
from storage import installations

APP_DIR = Path(__file__).resolve().parent.parent / "field_app"
LIVE_POLL_S = 2.0  # how often a live check-up looks for a change (one small query set)
LIVE_MAX_S = 20 * 60  # a stream ends after this; the app reconnects (bounded server work)
SILENT_AFTER_INTERVALS = 3  # silent: no uplink for three of the model's uplink intervals
RECENT_DAYS = 90

router = APIRouter(tags=["field"])


class WhoAmI(BaseModel):
    key_id: str
    name: str
    role: str
    site_ids: list[str] | None  # None: every site


@router.get("/whoami", operation_id="whoami", **guarded("self:read", parameters=False))
async def whoami(who: Annotated[Principal, Depends(require("self:read"))]) -> WhoAmI:
    """The calling key's name, role and site scope (the field app checks a key with it)."""
    key = who.key
    return WhoAmI(
        key_id=key.id,
        name=key.name,
        role=key.role,
        site_ids=list(key.site_ids) if key.site_ids is not None else None,
    )


class Installation(BaseModel):
    dev_eui: str
    model: str
    name: str
    site_id: str | None
    location: str
    status: str
    registered_at: datetime
    last_uplink: datetime | None
    battery_level: float | None
    link_verdict: str
    decode_problems: int
    health: list[str]  # silent, never_heard, low_battery, poor_link, decode_errors; [] = fine


class Installations(BaseModel):
    data: list[Installation]
    count: int


def _health(row: installations.Installation, interval_s: int | None, now: datetime) -> list[str]:
    flags = []
    if row.last_uplink is None:
        flags.append("never_heard")
    elif interval_s and now - row.last_uplink > timedelta(
        seconds=SILENT_AFTER_INTERVALS * interval_s
    ):
        flags.append("silent")
    if row.battery_level is not None and row.battery_level < installations.LOW_BATTERY_PCT:
        flags.append("low_battery")
    if row.link_verdict == "poor":
        flags.append("poor_link")
    if row.decode_problems:
        flags.append("decode_errors")
    return flags


@router.get(
    "/field/my-devices",
    operation_id="field-my-devices",
    **guarded("devices:write", parameters=False),
)
async def my_devices(conn: ConnDep, who: DevicesWriter, reg: RegistryDep) -> Installations:
    """The devices this key registered in the last 90 days, newest first, with their health
    (silent = no uplink for three of the model's uplink intervals)."""
    now = datetime.now(UTC)
    rows = await installations.recent_installations(
        conn, who.actor, since=now - timedelta(days=RECENT_DAYS), site_ids=who.site_filter
    )
    data = []
    for row in rows:
        sheet = reg.catalogue.get(row.model)
        interval = sheet.profile.uplink_interval_s if sheet else None
        data.append(Installation(**asdict(row), health=_health(row, interval, now)))
    return Installations(data=data, count=len(data))


async def _visible(dev_eui: str, conn: ConnDep, who: DevicesReader) -> Principal:
    """404 before the stream starts, for a device outside the caller's scope."""
    await device_in_scope(conn, dev_eui, who)
    return who


@router.get(
    "/devices/{dev_eui}/technician/live",
    operation_id="devices-technician-live",
    **guarded("devices:read", 404),
    response_class=EventSourceResponse,
)
async def technician_live(
    dev_eui: str, request: Request, who: Annotated[Principal, Depends(_visible)]
) -> AsyncIterator[ServerSentEvent]:
    """The technician view as server-sent events: an `status` event now and at every change
    (join, uplink, new values, link), a comment every poll to keep proxies from closing the
    stream; it ends after 20 minutes (the app reconnects)."""
    pool = request.app.state.pool
    last: str | None = None
    deadline = time.monotonic() + LIVE_MAX_S
    while time.monotonic() < deadline:
        async with pool.connection() as conn:
            view = await technician_view(dev_eui, conn, who)
        body = view.model_dump_json()
        if body != last:
            last = body
            yield ServerSentEvent(data=view.model_dump(mode="json"), event="status")
        else:
            yield ServerSentEvent(comment="unchanged")
        await asyncio.sleep(LIVE_POLL_S)


def mount_field_app(app: FastAPI) -> None:
    """Serve the app at /app/ (gzip for text assets; the API's own JSON is not compressed)."""
    static = StaticFiles(directory=APP_DIR, html=True)
    app.mount("/app", GZipMiddleware(static, minimum_size=256), name="field-app")

    @app.get("/app", include_in_schema=False)
    async def _app_slash() -> RedirectResponse:
        # relative asset URLs in index.html need the trailing slash
        return RedirectResponse("/app/", status_code=308)
