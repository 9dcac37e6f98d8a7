"""Sites and their consumption: the aggregated figures energy managers and the strategy
dashboard read. Consumption comes from the SQL function `icone_consumption`, the single
definition shared with Grafana (meter swaps, rollovers, gaps, Europe/Paris buckets)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import Principal
from api.deps import ConnDep, IndicatorsReader, SitesLister
from api.errors import InvalidParameter, NotFound
from api.params import (
    IsoDate,
    IsoDateTime,
    SiteIdPath,
    check_range,
    finite,
    metric_of,
    metric_query,
)
from api.routing import guarded
from decoders.vocabulary import METRICS, Kind
from storage import sites

router = APIRouter(prefix="/sites", tags=["sites"])

_MAX_SPAN = {
    "hour": timedelta(days=93),
    "day": timedelta(days=3 * 366),
    "month": timedelta(days=10 * 366),
}


class SitePublic(BaseModel):
    id: str
    name: str
    kind: str
    floor_area_m2: float | None
    latitude: float | None
    longitude: float | None
    status: str  # active or retired (a retired site keeps its history)
    devices: int


class SitesPublic(BaseModel):
    data: list[SitePublic]
    count: int


class ConsumptionPoint(BaseModel):
    bucket: datetime  # start of the Europe/Paris hour, day or month
    value: float


class SiteConsumption(BaseModel):
    site_id: str
    metric: str
    unit: str
    bucket: str
    total: float
    data: list[ConsumptionPoint]


class NightFlow(BaseModel):
    night: date  # the local date D: its window is D 01:00-05:00 Europe/Paris
    min_flow: float  # lowest hourly consumption in the window, metric unit per hour
    hours: int  # hours with a figure
    window_hours: int  # hours in the window: 4, or 3 / 5 on the DST nights


class MeterNightFlow(BaseModel):
    dev_eui: str
    channel: str
    nights: list[NightFlow]
    # leak rule 2 (docs/domain.md §4.2): above the threshold on every night asked, each
    # night fully covered
    leak_suspected: bool


class SiteNightFlow(BaseModel):
    site_id: str
    metric: str
    unit: str
    until: date
    nights: int
    threshold: float
    meters: list[MeterNightFlow]


_CONSUMPTION_METRICS = frozenset(n for n, m in METRICS.items() if m.kind is not Kind.GAUGE)
_REGISTER_METRICS = frozenset(n for n, m in METRICS.items() if m.kind is Kind.COUNTER)
# date.max would overflow the night window's end (D+1 05:00) in SQL
_LAST_NIGHT = date(9998, 12, 31)


async def _visible_site(conn: ConnDep, site_id: str, who: Principal) -> None:
    if await sites.get(conn, site_id) is None or not who.sees_site(site_id):
        raise NotFound(f"site {site_id} not found")


@router.get("", operation_id="sites-list", **guarded("sites:list"))
async def list_sites(conn: ConnDep, who: SitesLister) -> SitesPublic:
    """The sites in the caller's scope (retired ones too, with their status). Coordinates
    only for the roles that read site details (a dwelling's position is personal data)."""
    located = who.can("sites:read")
    data = [
        SitePublic(
            id=s.id,
            name=s.name,
            kind=s.kind,
            floor_area_m2=s.floor_area_m2,
            latitude=s.latitude if located else None,
            longitude=s.longitude if located else None,
            status=s.status,
            devices=s.devices,
        )
        for s in await sites.list_sites(conn, scope=who.site_filter, include_retired=True)
    ]
    return SitesPublic(data=data, count=len(data))


@router.get(
    "/{site_id}/consumption", operation_id="sites-consumption", **guarded("indicators:read", 404)
)
async def site_consumption(
    site_id: SiteIdPath,
    conn: ConnDep,
    who: IndicatorsReader,
    metric: Annotated[str, metric_query(_CONSUMPTION_METRICS, "A counter or interval metric")],
    start: Annotated[IsoDateTime, Query(alias="from", description="With a UTC offset")],
    end: Annotated[IsoDateTime, Query(alias="to", description="With a UTC offset")],
    bucket: Literal["hour", "day", "month"] = "day",
) -> SiteConsumption:
    """Consumption of the site's meters per bucket (sum over its devices and registers)."""
    spec = METRICS[metric_of("metric", metric, _CONSUMPTION_METRICS)]
    check_range(start, end, "from", "to")
    if end - start > _MAX_SPAN[bucket]:
        raise InvalidParameter(
            "to", f"within {_MAX_SPAN[bucket].days} days of from for {bucket} buckets"
        )
    await _visible_site(conn, site_id, who)
    cur = await conn.execute(
        """
        SELECT bucket, sum(consumption)
        FROM icone_consumption(%s, %s, %s, %s, %s, NULL)
        GROUP BY bucket ORDER BY bucket
        """,
        (start, end, bucket, site_id, metric),
    )
    data = [ConsumptionPoint(bucket=b, value=v) for b, v in await cur.fetchall()]
    return SiteConsumption(
        site_id=site_id,
        metric=metric,
        unit=spec.unit,
        bucket=bucket,
        total=sum(p.value for p in data),
        data=data,
    )


@router.get(
    "/{site_id}/night-flow", operation_id="sites-night-flow", **guarded("indicators:read", 404)
)
async def site_night_flow(
    site_id: SiteIdPath,
    conn: ConnDep,
    who: IndicatorsReader,
    until: Annotated[IsoDate, Query(le=_LAST_NIGHT)],
    nights: Annotated[int, Query(ge=1, le=31)] = 2,
    threshold: Annotated[float, finite(0, 1e6)] = 0.0,
    metric: Annotated[str, metric_query(_REGISTER_METRICS, "A counter (register) metric")] = (
        "water_volume_index"
    ),
) -> SiteNightFlow:
    """Minimum night flow of the site's meters (01:00-05:00 Paris time) on the `nights` nights
    ending with `until`, and the meters the leak rule flags at `threshold` (metric unit per
    hour): SQL `icone_night_flow` / `icone_night_flow_high`, shared with Grafana's alert."""
    spec = METRICS[metric_of("metric", metric, _REGISTER_METRICS)]
    await _visible_site(conn, site_id, who)
    cur = await conn.execute(
        """
        SELECT dev_eui, channel, night, min_flow, hours, window_hours
        FROM icone_night_flow(%s, %s, %s, %s)
        ORDER BY dev_eui, channel, night
        """,
        (until, nights, site_id, metric),
    )
    rows = await cur.fetchall()
    cur = await conn.execute(
        "SELECT dev_eui, channel FROM icone_night_flow_high(%s, %s, %s, %s, %s)",
        (until, threshold, nights, site_id, metric),
    )
    flagged = {(d, c) for d, c in await cur.fetchall()}
    meters: dict[tuple[str, str], MeterNightFlow] = {}
    for dev_eui, channel, night, min_flow, hours, window_hours in rows:
        meter = meters.setdefault(
            (dev_eui, channel),
            MeterNightFlow(
                dev_eui=dev_eui,
                channel=channel,
                nights=[],
                leak_suspected=(dev_eui, channel) in flagged,
            ),
        )
        meter.nights.append(
            NightFlow(night=night, min_flow=min_flow, hours=hours, window_hours=window_hours)
        )
    return SiteNightFlow(
        site_id=site_id,
        metric=metric,
        unit=f"{spec.unit}/h",
        until=until,
        nights=nights,
        threshold=threshold,
        meters=list(meters.values()),
    )
