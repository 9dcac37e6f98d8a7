"""Data quality of counter registers, per device and per site: the resets, rollovers, step
backs and recorded swaps that explain a consumption figure (SQL
`icone_counter_observations`, the same classification as the figures).

Observations carry per-device register readings, so both routes need `measurements:read`
(the reporting role sees aggregated indicators only); scopes as the other routes: a device
or site outside the caller's scope is a 404."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter

from api.deps import ConnDep, MeasurementsReader
from api.errors import InvalidParameter
from api.params import DevEui, Since, SiteIdPath, Until, check_range
from api.routes.devices import _visible_device
from api.routes.sites import _visible_site
from api.routing import guarded
from api.schemas import DataQualityObservation, DataQualityPublic
from storage.data_quality import CounterObservation, counter_observations

router = APIRouter(tags=["data-quality"])

_DEFAULT_SPAN = timedelta(days=30)
_MAX_SPAN = timedelta(days=366)


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    check_range(since, until, "since", "until")
    end = until if until is not None else datetime.now().astimezone()
    start = since if since is not None else end - _DEFAULT_SPAN
    check_range(start, end, "since", "until")
    if end - start > _MAX_SPAN:
        raise InvalidParameter("since", f"at most {_MAX_SPAN.days} days before until")
    return start, end


def _public(start: datetime, end: datetime, rows: list[CounterObservation]) -> DataQualityPublic:
    data = [
        DataQualityObservation(
            dev_eui=r.dev_eui,
            metric=r.metric,
            channel=r.channel,
            time=r.time,
            kind=r.kind,
            previous=r.previous,
            value=r.value,
            size=r.size,
            unit=r.unit,
        )
        for r in rows
    ]
    return DataQualityPublic(since=start, until=end, data=data, count=len(data))


@router.get(
    "/devices/{dev_eui}/data-quality",
    operation_id="devices-data-quality",
    **guarded("measurements:read", 404),
)
async def device_data_quality(
    dev_eui: DevEui,
    conn: ConnDep,
    who: MeasurementsReader,
    since: Since = None,
    until: Until = None,
) -> DataQualityPublic:
    """The device's counter observations in [since, until) (default: the last 30 days)."""
    start, end = _window(since, until)
    device = await _visible_device(conn, dev_eui, who)
    rows = await counter_observations(conn, start, end, dev_eui=device.dev_eui)
    return _public(start, end, rows)


@router.get(
    "/sites/{site_id}/data-quality",
    operation_id="sites-data-quality",
    **guarded("measurements:read", 404),
)
async def site_data_quality(
    site_id: SiteIdPath,
    conn: ConnDep,
    who: MeasurementsReader,
    since: Since = None,
    until: Until = None,
) -> DataQualityPublic:
    """The counter observations of the site's devices in [since, until) (default: the last
    30 days)."""
    start, end = _window(since, until)
    await _visible_site(conn, site_id, who)
    rows = await counter_observations(conn, start, end, site_id=site_id)
    return _public(start, end, rows)
