"""Indicators for energy managers and the strategy dashboard (docs/indicators.md).

Every figure is a row of a SQL function of migration 0008 (icone_energy, icone_datacenter,
...), the single definition shared with Grafana; this module only checks the request, narrows
the sites to the key's scope and shapes the answer. Roles: admin, energy_manager, reporting
(`indicators:read`); a `reporting` key never sees device identifiers.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel

from api.auth import Principal
from api.deps import ConnDep, get_pool, require
from api.errors import ApiError, NotFound
from api.params import IsoDateTime
from api.routing import guarded

router = APIRouter(prefix="/indicators", tags=["indicators"])
_log = logging.getLogger(__name__)

Bucket = Literal["day", "month", "year"]
Group = Literal["site", "site_kind", "metropolis"]
_MAX_SPAN = {
    "day": timedelta(days=367),
    "month": timedelta(days=5 * 366),
    "year": timedelta(days=10 * 366),
}
_YEAR = Query(ge=2000, le=2100)


class BadRequest(ApiError):
    status_code = 422


class Metered(BaseModel):
    bucket: datetime
    bucket_end: datetime
    scope: str
    register_name: str  # 'total', or a tariff register kept apart (HCHC, HCHP, BASE, EASF01...)
    figure: float | None  # None: no meter of the scope had a figure
    unit: str
    floor_area_m2: float | None
    figure_per_m2: float | None
    devices_contributing: int
    devices_expected: int
    readings: int
    readings_expected: float | None
    coverage: float | None
    gap_days: int
    method: str


class MeteredAnswer(BaseModel):
    sites: list[str] | None  # None: every site
    data: list[Metered]


class YearOnYear(BaseModel):
    scope: str
    year: int
    figure: float | None
    previous_figure: float | None
    change: float | None
    unit: str | None
    coverage: float | None
    previous_coverage: float | None
    method: str


class YearOnYearAnswer(BaseModel):
    sites: list[str] | None
    data: list[YearOnYear]


class Emission(BaseModel):
    scope: str
    period_start: datetime
    period_end: datetime
    kwh: float | None
    kgco2e: float | None  # None: no factor in force (never guessed)
    factor: float | None
    factor_unit: str | None
    factor_id: int | None
    factor_source: str | None
    factor_source_id: str | None
    factor_year: int | None
    coverage: float | None
    method: str


class EmissionsAnswer(BaseModel):
    sites: list[str] | None
    data: list[Emission]


class DatacenterPeriod(BaseModel):
    bucket: datetime
    bucket_end: datetime
    site_id: str
    e_facility: float | None
    e_it: float | None
    e_cooling: float | None
    unit: str
    pue: float | None  # None when it cannot be computed or would be < 1 (see pue_status)
    pue_status: str
    cooling_share: float | None
    metering_category: str
    facility_meters: str  # contributing/expected
    it_meters: str
    cooling_meters: str
    coverage: float | None
    gap_days: int | None
    method: str


class RackInlet(BaseModel):
    site_id: str
    dev_eui: str | None
    location: str
    observed_hours: float | None
    recommended_share: float | None
    a1_share: float | None
    humidity_known_share: float | None
    readings: int
    coverage: float | None
    method: str


class DatacenterAnswer(BaseModel):
    sites: list[str] | None
    energy: list[DatacenterPeriod]
    thermal: list[RackInlet]


class WaterAlert(BaseModel):
    site_id: str
    dev_eui: str | None
    alert: str
    since: datetime | None
    detail: str


class WaterAnswer(BaseModel):
    sites: list[str] | None
    data: list[Metered]
    alerts_at: datetime
    leak_threshold: float
    alerts: list[WaterAlert]


class FleetGroup(BaseModel):
    site_id: str | None
    category: str
    registered: int
    reporting: int
    silent: int
    low_battery: int
    uplinks_24h: int
    uplinks_expected_24h: float | None
    coverage: float | None
    method: str


class FleetAnswer(BaseModel):
    sites: list[str] | None
    at: datetime
    data: list[FleetGroup]


class SummaryFigure(BaseModel):
    section: str
    indicator: str
    scope: str
    period_start: datetime
    period_end: datetime
    figure: float | None
    unit: str
    coverage: float | None
    devices: str | None
    gap_days: int | None
    factor: str | None
    method: str


class SummaryAnswer(BaseModel):
    year: int
    sites: list[str] | None
    data: list[SummaryFigure]


async def _sites(conn: ConnDep, who: Principal, requested: list[str] | None) -> list[str] | None:
    """The sites to compute over: those asked (each must exist and be in scope), else the
    key's scope (None = every site)."""
    if not requested:
        return who.site_filter
    cur = await conn.execute("SELECT id FROM sites WHERE id = ANY(%s)", (requested,))
    known = {str(r[0]) for r in await cur.fetchall()}
    for site in requested:
        if site not in known or not who.sees_site(site):
            raise NotFound(f"site {site} not found")
    return sorted(set(requested))


def _window(start: datetime, end: datetime, bucket: str) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("from and to need a UTC offset")
    if not start < end or end - start > _MAX_SPAN[bucket]:
        raise BadRequest(
            f"from must be before to, within {_MAX_SPAN[bucket].days} days for {bucket} buckets"
        )


async def _select(conn: ConnDep, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()
    except psycopg.errors.InvalidParameterValue as exc:
        raise BadRequest(str(exc.diag.message_primary or exc)) from exc


async def _select_both(
    conn: ConnDep,
    pool: AsyncConnectionPool[Any],
    first: tuple[str, tuple[Any, ...]],
    second: tuple[str, tuple[Any, ...]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two independent queries of one answer at once: `first` on the request's connection,
    `second` on another one when the pool has one to spare within 20 ms (else after `first`
    on the same connection: a request never waits on the pool holding a connection, so busy
    requests cannot starve each other). Each query sees its own snapshot; they read
    different indicators, each consistent in itself."""
    try:
        async with pool.connection(timeout=0.02) as other:
            results = await asyncio.gather(
                _select(conn, *first), _select(other, *second), return_exceptions=True
            )
    except PoolTimeout:
        _log.debug("indicators: no spare connection, the two queries run one after the other")
        return await _select(conn, *first), await _select(conn, *second)
    a, b = results  # both have ended: neither connection is left mid-query
    if isinstance(a, BaseException):
        raise a
    if isinstance(b, BaseException):
        raise b
    return a, b


def _answer(model: type[BaseModel], **fields: Any) -> Response:
    """`model` validated from the rows and serialised by pydantic-core straight to JSON bytes.
    Returning the model instead would have FastAPI validate it again and encode it through
    Python dicts: ~30 ms more for a 1,500-row answer (30 days x 50 sites)."""
    return Response(model.model_validate(fields).model_dump_json(), media_type="application/json")


async def _year_on_year(
    conn: ConnDep, who: Principal, metric: str, year: int, group: str, site: list[str] | None
) -> Response:
    sites = await _sites(conn, who, site)
    rows = await _select(
        conn, "SELECT * FROM icone_metered_yoy(%s, %s, %s, %s)", (metric, year, group, sites)
    )
    return _answer(YearOnYearAnswer, sites=sites, data=rows)


SitesQuery = Annotated[list[str] | None, Query(alias="site", description="repeatable")]
From = Annotated[IsoDateTime, Query(alias="from")]
To = Annotated[IsoDateTime, Query(alias="to")]
At = Annotated[IsoDateTime | None, Query(description="ISO 8601 with its offset; default now")]
Reader = Annotated[Principal, Depends(require("indicators:read"))]
Pool = Annotated[AsyncConnectionPool[Any], Depends(get_pool)]


def _with_csv(route: dict[str, Any]) -> dict[str, Any]:
    """The summary's 200 in both of its formats (JSON, or CSV with format=csv)."""
    responses = {
        **route["responses"],
        200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}},
    }
    return {**route, "responses": responses}


@router.get(
    "/energy",
    operation_id="indicators-energy",
    response_model=MeteredAnswer,
    **guarded("indicators:read", 404),
)
async def energy(
    conn: ConnDep,
    who: Reader,
    start: From,
    end: To,
    bucket: Bucket = "month",
    group: Group = "site",
    site: SitesQuery = None,
) -> Response:
    """kWh per site, site kind or the whole metropolis (SQL `icone_energy`), tariff registers
    apart, per m² where the floor area is known, with coverage."""
    _window(start, end, bucket)
    sites = await _sites(conn, who, site)
    rows = await _select(
        conn, "SELECT * FROM icone_energy(%s, %s, %s, %s, %s)", (start, end, bucket, group, sites)
    )
    return _answer(MeteredAnswer, sites=sites, data=rows)


@router.get(
    "/energy/yoy",
    operation_id="indicators-energy-yoy",
    response_model=YearOnYearAnswer,
    **guarded("indicators:read", 404),
)
async def energy_yoy(
    conn: ConnDep,
    who: Reader,
    year: Annotated[int, _YEAR],
    group: Group = "site",
    site: SitesQuery = None,
) -> Response:
    """Calendar year against the previous one (SQL `icone_metered_yoy`)."""
    return await _year_on_year(conn, who, "energy_active_import_index", year, group, site)


@router.get(
    "/emissions",
    operation_id="indicators-emissions",
    response_model=EmissionsAnswer,
    **guarded("indicators:read", 404),
)
async def emissions(
    conn: ConnDep,
    who: Reader,
    start: From,
    end: To,
    group: Group = "metropolis",
    site: SitesQuery = None,
) -> Response:
    """kgCO2e of electricity, one row per emission factor in force (SQL `icone_emissions`)."""
    _window(start, end, "day")
    sites = await _sites(conn, who, site)
    rows = await _select(
        conn, "SELECT * FROM icone_emissions(%s, %s, %s, %s)", (start, end, group, sites)
    )
    return _answer(EmissionsAnswer, sites=sites, data=rows)


@router.get(
    "/datacenter",
    operation_id="indicators-datacenter",
    response_model=DatacenterAnswer,
    **guarded("indicators:read", 404),
)
async def datacenter(
    conn: ConnDep,
    pool: Pool,
    who: Reader,
    start: From,
    end: To,
    bucket: Bucket = "month",
    site: SitesQuery = None,
) -> Response:
    """IT, facility and cooling energy, PUE and cooling share (SQL `icone_datacenter`), and
    each rack inlet's time in the ASHRAE envelopes (SQL `icone_ashrae`)."""
    _window(start, end, bucket)
    sites = await _sites(conn, who, site)
    energy_rows, thermal = await _select_both(
        conn,
        pool,
        ("SELECT * FROM icone_datacenter(%s, %s, %s, %s)", (start, end, bucket, sites)),
        ("SELECT * FROM icone_ashrae(%s, %s, %s)", (start, end, sites)),
    )
    return _answer(
        DatacenterAnswer,
        sites=sites,
        energy=energy_rows,
        thermal=[_device_hidden(r, who) for r in thermal],
    )


@router.get(
    "/water",
    operation_id="indicators-water",
    response_model=WaterAnswer,
    **guarded("indicators:read", 404),
)
async def water(
    conn: ConnDep,
    pool: Pool,
    who: Reader,
    start: From,
    end: To,
    bucket: Bucket = "month",
    group: Group = "site",
    site: SitesQuery = None,
    alerts_at: At = None,
    leak_threshold: Annotated[float, Query(ge=0, le=1e6)] = 0.0,
) -> Response:
    """m³ per site (SQL `icone_water`) and the alerts at `alerts_at` (default `to`): the
    night-flow leak rule and active meter alarms (SQL `icone_water_alerts`)."""
    _window(start, end, bucket)
    if alerts_at is not None and alerts_at.tzinfo is None:
        raise BadRequest("alerts_at needs a UTC offset")
    at = alerts_at or end
    sites = await _sites(conn, who, site)
    rows, alerts = await _select_both(
        conn,
        pool,
        ("SELECT * FROM icone_water(%s, %s, %s, %s, %s)", (start, end, bucket, group, sites)),
        ("SELECT * FROM icone_water_alerts(%s, %s, %s)", (at, sites, leak_threshold)),
    )
    return _answer(
        WaterAnswer,
        sites=sites,
        data=rows,
        alerts_at=at,
        leak_threshold=leak_threshold,
        alerts=[_device_hidden(r, who) for r in alerts],
    )


@router.get(
    "/water/yoy",
    operation_id="indicators-water-yoy",
    response_model=YearOnYearAnswer,
    **guarded("indicators:read", 404),
)
async def water_yoy(
    conn: ConnDep,
    who: Reader,
    year: Annotated[int, _YEAR],
    group: Group = "site",
    site: SitesQuery = None,
) -> Response:
    """Calendar year against the previous one (SQL `icone_metered_yoy`)."""
    return await _year_on_year(conn, who, "water_volume_index", year, group, site)


@router.get(
    "/fleet",
    operation_id="indicators-fleet",
    response_model=FleetAnswer,
    **guarded("indicators:read", 404),
)
async def fleet(conn: ConnDep, who: Reader, at: At = None, site: SitesQuery = None) -> Response:
    """Devices registered, reporting, silent and on low battery per site and category
    (SQL `icone_fleet`), at `at` (default now)."""
    if at is not None and at.tzinfo is None:
        raise BadRequest("at needs a UTC offset")
    if at is None:
        cur = await conn.execute("SELECT now()")
        row = await cur.fetchone()
        assert row is not None
        at = row[0]
    sites = await _sites(conn, who, site)
    rows = await _select(conn, "SELECT * FROM icone_fleet(%s, %s)", (at, sites))
    return _answer(FleetAnswer, sites=sites, at=at, data=rows)


@router.get(
    "/summary",
    operation_id="indicators-summary",
    **_with_csv(guarded("indicators:read", 404)),
    response_model=SummaryAnswer,
)
async def summary(
    conn: ConnDep,
    pool: Pool,
    who: Reader,
    year: Annotated[int, _YEAR],
    site: SitesQuery = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """The yearly summary of the strategy dashboard (SQL `icone_summary`): every figure with
    its method, coverage and, for CO2e, the emission factor used. `format=csv` for a sheet."""
    sites = await _sites(conn, who, site)
    # the energy section (four energy computations) beside the three others: about half
    # of the rows' time each
    query = "SELECT * FROM icone_summary(%s, %s, %s)"
    energy_rows, other_rows = await _select_both(
        conn,
        pool,
        (query, (year, sites, ["energy"])),
        (query, (year, sites, ["datacenter", "water", "fleet"])),
    )
    rows = energy_rows + other_rows  # icone_summary's own order
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(SummaryFigure.model_fields))
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="icone-summary-{year}.csv"'},
        )
    return _answer(SummaryAnswer, year=year, sites=sites, data=rows)


def _device_hidden(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    """`reporting` keys see aggregates only: device identifiers are removed."""
    if who.can("devices:read") or "dev_eui" not in row:
        return row
    return {**row, "dev_eui": None}
