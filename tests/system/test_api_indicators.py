"""/indicators/*: every route per role and site scope, answers equal to the SQL functions,
bad input refused with 4xx (never 5xx)."""

from __future__ import annotations

import csv
import io
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from api.main import create_app
from storage import apikeys
from storage.indicators import DeviceModel, sync_device_models
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites
from storage.rollups import refresh_rollups

START = datetime(2025, 10, 31, 23, 0, tzinfo=UTC)  # 2025-11-01 00:00 in Paris
END = datetime(2025, 11, 30, 23, 0, tzinfo=UTC)  # 2025-12-01 00:00 in Paris
WINDOW = {"from": START.isoformat(), "to": END.isoformat()}
FACILITY, IT, INLET, SCHOOL_METER, WATER = (
    "dc00000000000001",
    "dc00000000000002",
    "dc00000000000003",
    "5c00000000000001",
    "5c00000000000002",
)
ROUTES: list[tuple[str, dict[str, Any]]] = [
    ("/indicators/energy", WINDOW),
    ("/indicators/energy/yoy", {"year": 2025}),
    ("/indicators/emissions", WINDOW),
    ("/indicators/datacenter", WINDOW),
    ("/indicators/water", WINDOW),
    ("/indicators/water/yoy", {"year": 2025}),
    ("/indicators/fleet", {"at": END.isoformat()}),
    ("/indicators/summary", {"year": 2025}),
]


def _seed(database: str) -> dict[str, str]:
    with psycopg.connect(database, autocommit=True) as conn:
        sync_device_models(
            conn,
            [
                DeviceModel("t-energy", "energy", 21_600),
                DeviceModel("t-climate", "climate", 600),
                DeviceModel("t-water", "water", 21_600),
            ],
        )
        upsert_sites(
            conn,
            [
                SiteSpec("dc", "Datacenter", "datacenter", floor_area_m2=500.0),
                SiteSpec("school", "École", "school", floor_area_m2=2000.0),
            ],
        )
        upsert_devices(
            conn,
            [
                DeviceSpec(FACILITY, "t-energy", site_id="dc", role="facility_total"),
                DeviceSpec(IT, "t-energy", site_id="dc", role="it_load"),
                DeviceSpec(INLET, "t-climate", site_id="dc", role="rack_inlet", location="rack A1"),
                DeviceSpec(SCHOOL_METER, "t-energy", site_id="school"),
                DeviceSpec(WATER, "t-water", site_id="school"),
            ],
        )
        steps = [START + timedelta(hours=6 * i) for i in range(121)]
        rows = [
            (t, FACILITY, "energy_active_import_index", "EA_s", 100.0 + 18 * i)
            for i, t in enumerate(steps)
        ]
        rows += [
            (t, IT, "energy_active_import_index", "EA_s", 50.0 + 10 * i)
            for i, t in enumerate(steps)
        ]
        rows += [
            (t, SCHOOL_METER, "energy_active_import_index", "BASE", 7.0 * i)
            for i, t in enumerate(steps)
        ]
        rows += [(t, WATER, "water_volume_index", "", 0.5 * i) for i, t in enumerate(steps)]
        rows += [
            (START + timedelta(minutes=10 * i), INLET, "temperature", "", 22.0) for i in range(12)
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO measurements (time, dev_eui, metric, channel, value) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
        conn.execute(
            "INSERT INTO device_events (time, dev_eui, code, active) VALUES (%s, %s, 'leak', true)",
            (END - timedelta(hours=1), WATER),
        )
        refresh_rollups(conn, datetime(2000, 1, 1, tzinfo=UTC))
        return {
            "admin": apikeys.create_key(conn, "a", "admin"),
            "dc_manager": apikeys.create_key(conn, "m", "energy_manager", ["dc"]),
            "reporting": apikeys.create_key(conn, "r", "reporting"),
            "school_reporting": apikeys.create_key(conn, "s", "reporting", ["school"]),
            "technician": apikeys.create_key(conn, "t", "technician"),
        }


@pytest.fixture(scope="module")
def seeded(pg_server: Any) -> Any:
    """One seeded database for the module's read-only tests."""
    from tests.storage.helpers import fresh_database

    with fresh_database(pg_server.url) as url:
        from storage.migrate import migrate

        migrate(url)
        keys = _seed(url)
        with TestClient(create_app(url)) as http:
            yield url, keys, http


def _get(http: TestClient, key: str | None, path: str, params: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.get(path, params=params, headers=headers)


def _sites_in(body: dict[str, Any]) -> set[str]:
    """Every site id an answer mentions."""
    found: set[str] = set()
    for key in ("data", "energy", "thermal", "alerts"):
        for row in body.get(key, []):
            for field in ("site_id", "scope"):
                value = row.get(field)
                if isinstance(value, str) and value not in ("metropolis", "datacenter", "school"):
                    found.add(value.split("/")[0])
    return found


@pytest.mark.parametrize(("path", "params"), ROUTES)
def test_every_route_per_role_and_scope(seeded: Any, path: str, params: dict[str, Any]) -> None:
    _, keys, http = seeded
    assert _get(http, None, path, params).status_code == 401
    assert _get(http, keys["technician"], path, params).status_code == 403
    for role in ("admin", "dc_manager", "reporting", "school_reporting"):
        response = _get(http, keys[role], path, params)
        assert response.status_code == 200, (role, response.text)
    # a scoped key sees its sites only, and asking for another one is "not found"
    school = _get(http, keys["school_reporting"], path, params).json()
    assert school["sites"] == ["school"]
    assert _sites_in(school) <= {"school"}
    assert _get(http, keys["school_reporting"], path, {**params, "site": "dc"}).status_code == 404
    assert _get(http, keys["dc_manager"], path, {**params, "site": "school"}).status_code == 404
    assert _get(http, keys["admin"], path, {**params, "site": "nowhere"}).status_code == 404
    manager = _get(http, keys["dc_manager"], path, params).json()
    assert _sites_in(manager) <= {"dc"}


def test_answers_are_the_sql_functions_rows(seeded: Any) -> None:
    url, keys, http = seeded
    body = _get(http, keys["reporting"], "/indicators/datacenter", WINDOW).json()
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM icone_datacenter(%s, %s, 'month')", (START, END))
        (reference,) = cur.fetchall()
    (period,) = body["energy"]
    # facility +18 kWh and IT +10 kWh per 6 h: 2160 / 1200 = 1.8
    assert period["pue"] == pytest.approx(1.8) == pytest.approx(reference["pue"])
    assert period["e_facility"] == pytest.approx(2160)
    # the reporting key sees the rack inlet's compliance, not its device id
    (inlet,) = body["thermal"]
    assert inlet["dev_eui"] is None
    assert inlet["recommended_share"] == pytest.approx(1.0)
    admin = _get(http, keys["admin"], "/indicators/datacenter", WINDOW).json()
    assert admin["thermal"][0]["dev_eui"] == INLET

    energy = _get(http, keys["admin"], "/indicators/energy", {**WINDOW, "group": "metropolis"})
    (total,) = [r for r in energy.json()["data"] if r["register_name"] == "total"]
    # the datacenter's facility meter (2160) + the school's (7 x 120 = 840); the it_load
    # sub-meter is inside the facility figure and not added
    assert total["figure"] == pytest.approx(3000)
    assert total["figure_per_m2"] == pytest.approx(3000 / 2500)
    assert (total["devices_contributing"], total["devices_expected"]) == (2, 2)

    water = _get(http, keys["school_reporting"], "/indicators/water", WINDOW).json()
    assert water["data"][0]["figure"] == pytest.approx(60)  # 120 steps x 0.5 m³
    # the meter's own leak alarm, and the night-flow rule: 0.5 m³ per 6 h is a continuous
    # 0.083 m³/h, above the 0 threshold on both nights
    assert [(a["alert"], a["dev_eui"]) for a in water["alerts"]] == [
        ("leak", None),
        ("night_flow_high", None),
    ]


@pytest.mark.parametrize("path", ["/indicators/water", "/indicators/datacenter"])
def test_two_query_answers_are_the_same_with_one_connection(
    seeded: Any, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Water and datacenter run their two queries on two connections when the pool has one
    to spare, one after the other on the request's own when it has not (a pool of one)."""
    url, keys, http = seeded
    caplog.set_level(logging.DEBUG, logger="api.routes.indicators")
    with TestClient(create_app(url, pool_size=1)) as single:
        alone = _get(single, keys["admin"], path, WINDOW)
    assert alone.status_code == 200, alone.text
    assert "no spare connection" in caplog.text
    for _ in range(10):  # the default pool opens its second connection on the first ask
        caplog.clear()
        both = _get(http, keys["admin"], path, WINDOW)
        if "no spare connection" not in caplog.text:
            break
        time.sleep(0.1)
    assert "no spare connection" not in caplog.text, "the two-connection path never ran"
    assert both.json() == alone.json()
    assert alone.json()["data" if "water" in path else "energy"]


def test_summary_in_json_and_csv(seeded: Any) -> None:
    _, keys, http = seeded
    as_json = _get(http, keys["reporting"], "/indicators/summary", {"year": 2025}).json()
    as_csv = _get(http, keys["reporting"], "/indicators/summary", {"year": 2025, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(as_json["data"]) > 0
    pue = next(r for r in as_json["data"] if r["indicator"] == "pue")
    assert pue["figure"] == pytest.approx(1.8)
    assert all(r["method"] for r in as_json["data"])
    # a year without data, and a site without floor area: still every method stated
    for params in ({"year": 2024}, {"year": 2025, "site": "dc"}):
        response = _get(http, keys["admin"], "/indicators/summary", params)
        assert response.status_code == 200, response.text
        assert all(r["method"] for r in response.json()["data"])
    co2 = [r for r in as_json["data"] if r["indicator"] == "co2e"]
    assert co2
    assert co2[0]["factor"] == "none in force"


def test_summary_sections_make_the_whole_summary(seeded: Any) -> None:
    """The API computes the summary's sections on two connections: its rows are still
    icone_summary's, in its order; the sections are the whole; a bad one is refused."""
    url, keys, http = seeded
    served = _get(http, keys["admin"], "/indicators/summary", {"year": 2025}).json()["data"]
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT section, indicator, scope, figure FROM icone_summary(2025)")
        whole = cur.fetchall()
        by_section = []
        for section in ("energy", "datacenter", "water", "fleet"):
            cur.execute(
                "SELECT section, indicator, scope, figure FROM icone_summary(2025, NULL, %s)",
                ([section],),
            )
            by_section += cur.fetchall()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="sections are"):
            cur.execute("SELECT * FROM icone_summary(2025, NULL, '{energy,weather}')")
    assert {r["section"] for r in whole} == {"energy", "datacenter", "water", "fleet"}
    assert by_section == whole
    assert [{k: r[k] for k in ("section", "indicator", "scope", "figure")} for r in served] == whole


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/indicators/energy", {**WINDOW, "bucket": "week"}),
        ("/indicators/energy", {**WINDOW, "group": "street"}),
        ("/indicators/energy", {"from": "2025-11-01T00:00:00", "to": "2025-11-02T00:00:00"}),
        ("/indicators/energy", {"from": END.isoformat(), "to": START.isoformat()}),
        (
            "/indicators/datacenter",
            {"from": "2020-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z", "bucket": "day"},
        ),
        ("/indicators/fleet", {"at": "2025-11-01T00:00:00"}),
        ("/indicators/summary", {"year": 1900}),
        ("/indicators/summary", {"year": 2025, "format": "xlsx"}),
    ],
)
def test_bad_input_is_a_4xx(seeded: Any, path: str, params: dict[str, Any]) -> None:
    _, keys, http = seeded
    assert _get(http, keys["admin"], path, params).status_code == 422
