"""Devices of the registry, their measurements and their link quality, within the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.auth import Principal
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

router = APIRouter(prefix="/devices", tags=["devices"])

_DEVICE_SQL = """
    SELECT d.dev_eui, d.model, d.name, d.site_id, d.location, d.role, d.status,
           (SELECT max(u.time) FROM uplinks u WHERE u.dev_eui = d.dev_eui) AS last_seen
    FROM devices d
"""


async def _visible_device(conn: ConnDep, dev_eui: str, who: Principal) -> DevicePublic:
    """The device if it exists and the caller's scope covers its site; 404 otherwise
    (a scoped caller cannot learn that a device of another site exists)."""
    cur = await conn.execute(_DEVICE_SQL + " WHERE d.dev_eui = %s", (dev_eui.lower(),))
    row = await cur.fetchone()
    if row is None or not who.sees_site(row[3]):
        raise NotFound(f"device {dev_eui} not found")
    return DevicePublic(**dict(zip(DevicePublic.model_fields, row, strict=True)))


_SCOPE_WHERE = """ WHERE (%(scope)s::text[] IS NULL OR d.site_id = ANY(%(scope)s::text[]))
              AND (%(site)s::text IS NULL OR d.site_id = %(site)s::text)"""
_COUNT_SQL = """SELECT count(*) FROM devices d
    WHERE (%(scope)s::text[] IS NULL OR d.site_id = ANY(%(scope)s::text[]))
      AND (%(site)s::text IS NULL OR d.site_id = %(site)s::text)"""


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
    params = {"scope": who.site_filter, "site": site_id, "limit": limit, "offset": offset}
    cur = await conn.execute(
        _DEVICE_SQL + _SCOPE_WHERE + " ORDER BY d.dev_eui LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    rows = await cur.fetchall()
    data = [DevicePublic(**dict(zip(DevicePublic.model_fields, r, strict=True))) for r in rows]
    cur = await conn.execute(_COUNT_SQL, params)
    total = await cur.fetchone()
    return DevicesPublic(data=data, count=int(total[0]) if total else 0)


@router.get("/{dev_eui}", operation_id="devices-get", **guarded("devices:read", 404))
async def get_device(dev_eui: DevEui, conn: ConnDep, who: DevicesReader) -> DevicePublic:
    return await _visible_device(conn, dev_eui, who)


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
    cur = await conn.execute(
        """
        SELECT time, metric, channel, value FROM measurements
        WHERE dev_eui = %(dev)s
          AND (%(metric)s::text IS NULL OR metric = %(metric)s::text)
          AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
          AND (%(since)s::timestamptz IS NULL OR time >= %(since)s::timestamptz)
          AND (%(until)s::timestamptz IS NULL OR time < %(until)s::timestamptz)
        ORDER BY time DESC, metric, channel LIMIT %(limit)s
        """,
        {
            "dev": device.dev_eui,
            "metric": metric,
            "channel": channel,
            "since": since,
            "until": until,
            "limit": limit,
        },
    )
    data = [
        MeasurementPublic(time=t, metric=m, channel=c, value=v, unit=METRICS[m].unit)
        for t, m, c, v in await cur.fetchall()
        if m in METRICS
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
    cur = await conn.execute(
        """
        SELECT time, f_cnt, f_port, rssi, snr, gateway_count, spreading_factor,
               decode_status, time_source
        FROM uplinks WHERE dev_eui = %s ORDER BY time DESC LIMIT %s
        """,
        (device.dev_eui, limit),
    )
    data = [
        UplinkPublic(**dict(zip(UplinkPublic.model_fields, r, strict=True)))
        for r in await cur.fetchall()
    ]
    return UplinksPublic(dev_eui=device.dev_eui, data=data, count=len(data))
