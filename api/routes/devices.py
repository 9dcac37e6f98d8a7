"""Devices of the registry, their measurements and their link quality, within the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from api.auth import Principal
from api.concurrency import set_etag
from api.deps import ConnDep, DevicesReader, MeasurementsReader
from api.errors import NotFound
from api.params import (
    ChannelQuery,
    DevEui,
    Offset,
    Since,
    SiteIdQuery,
    Until,
    check_range,
    metric_of,
    metric_query,
    page_size,
)
from api.routing import guarded
from api.schemas import (
    DevicePublic,
    DevicesPublic,
    MeasurementPublic,
    MeasurementsPublic,
    UplinkPublic,
    UplinksPublic,
)
from decoders import METRICS
from storage import devices, readings

router = APIRouter(prefix="/devices", tags=["devices"])


async def _visible_device(conn: ConnDep, dev_eui: str, who: Principal) -> DevicePublic:
    """The device if it exists and the caller's scope covers its site; 404 otherwise
    (a scoped caller cannot learn that a device of another site exists)."""
    row = await devices.get(conn, dev_eui)
    if row is None or not who.sees_site(row.site_id):
        raise NotFound(f"device {dev_eui} not found")
    return DevicePublic.model_validate(row)


@router.get("", operation_id="devices-list", **guarded("devices:read"))
async def list_devices(
    conn: ConnDep,
    who: DevicesReader,
    site_id: SiteIdQuery = None,
    limit: Annotated[int, page_size(1000)] = 100,
    offset: Offset = 0,
) -> DevicesPublic:
    """Devices in the caller's scope, by DevEUI; `count` is the total matching, `data` one
    page of it."""
    rows = await devices.list_devices(
        conn, scope=who.site_filter, site_id=site_id, limit=limit, offset=offset
    )
    total = await devices.count_devices(conn, scope=who.site_filter, site_id=site_id)
    return DevicesPublic(data=[DevicePublic.model_validate(r) for r in rows], count=total)


@router.get("/{dev_eui}", operation_id="devices-get", **guarded("devices:read", 404))
async def get_device(
    dev_eui: DevEui, conn: ConnDep, who: DevicesReader, response: Response
) -> DevicePublic:
    """The registry entry, with its ETag (send it back in If-Match to change the device)."""
    device = await _visible_device(conn, dev_eui, who)
    set_etag(response, device.version)
    return device


@router.get(
    "/{dev_eui}/measurements",
    operation_id="devices-measurements",
    **guarded("measurements:read", 404),
)
async def device_measurements(
    dev_eui: DevEui,
    conn: ConnDep,
    who: MeasurementsReader,
    metric: Annotated[str | None, metric_query(METRICS, "Only this metric")] = None,
    channel: ChannelQuery = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, page_size(10_000)] = 500,
) -> MeasurementsPublic:
    """Decoded measurements, newest first, in the canonical units of the vocabulary."""
    if metric is not None:
        metric_of("metric", metric, METRICS)
    check_range(since, until, "since", "until")
    device = await _visible_device(conn, dev_eui, who)
    rows = await readings.measurements(
        conn,
        device.dev_eui,
        metric=metric,
        channel=channel,
        since=since,
        until=until,
        limit=limit,
    )
    data = [
        MeasurementPublic(
            time=r.time,
            metric=r.metric,
            channel=r.channel,
            value=r.value,
            unit=METRICS[r.metric].unit,
        )
        for r in rows
        if r.metric in METRICS
    ]
    return MeasurementsPublic(dev_eui=device.dev_eui, data=data, count=len(data))


@router.get("/{dev_eui}/uplinks", operation_id="devices-uplinks", **guarded("devices:read", 404))
async def device_uplinks(
    dev_eui: DevEui,
    conn: ConnDep,
    who: DevicesReader,
    limit: Annotated[int, page_size(1000)] = 50,
) -> UplinksPublic:
    """Recent uplinks with link quality: what a technician checks after an installation."""
    device = await _visible_device(conn, dev_eui, who)
    data = [
        UplinkPublic.model_validate(u, from_attributes=True)
        for u in await readings.uplinks(conn, device.dev_eui, limit=limit)
    ]
    return UplinksPublic(dev_eui=device.dev_eui, data=data, count=len(data))
