"""The Water board's map query, as exported and expanded the way Grafana does, against
hand-placed meters: which meters appear, where, with which last reading and which alerts.
The meters are written in a transaction of the shared fleet database that is rolled back, so
no other test sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from grafana.export import READER_ROLE, dashboards
from grafana.macros import QueryContext, VariableValue, expand
from tests.grafana.conftest import FleetDatabase
from tests.grafana.grafana_run import panels, run

SITE, NOWHERE = "map-test", "map-nowhere"
A, B, C, D, E = (f"0a0a0a0a0a0a0a0{i}" for i in range(1, 6))
WATER_MODEL, ENERGY_MODEL = "kamstrup-flowiq2200", "adeunis-tic-pme-pmi"


def _map_sql() -> str:
    board = dashboards()["water"]
    (panel,) = (p for p in panels(board) if p["type"] == "geomap")
    (target,) = panel["targets"]
    return str(target["rawSql"])


def _place_meters(conn: psycopg.Connection[Any], now: datetime) -> None:
    conn.execute(
        "INSERT INTO sites (id, name, kind, latitude, longitude) "
        "VALUES (%s, 'Map test', 'building', 47.39, 0.69), (%s, 'Nowhere', 'building', NULL, NULL)",
        (SITE, NOWHERE),
    )
    devices = [
        # dev_eui, model, site, latitude, longitude
        (A, WATER_MODEL, SITE, 47.40, 0.70),  # its own position
        (B, WATER_MODEL, SITE, None, None),  # the site's
        (C, WATER_MODEL, SITE, 47.41, None),  # half a position: the site's pair
        (D, WATER_MODEL, NOWHERE, None, None),  # nowhere: not on the map
        (E, ENERGY_MODEL, SITE, 47.42, 0.71),  # not a water meter
    ]
    conn.cursor().executemany(
        "INSERT INTO devices (dev_eui, model, name, site_id, latitude, longitude) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        [
            (eui, model, f"meter {eui[-1]}", site, lat, lon)
            for eui, model, site, lat, lon in devices
        ],
    )
    conn.cursor().executemany(
        "INSERT INTO measurements (time, dev_eui, metric, value) "
        "VALUES (%s, %s, 'water_volume_index', %s)",
        [
            (now - timedelta(hours=2), A, 10.0),
            (now - timedelta(hours=1), A, 12.5),
            (now + timedelta(hours=1), A, 99.0),  # after the range: not its last reading
            (now - timedelta(days=40), B, 7.0),  # older than the lookup window
            (now - timedelta(hours=1), C, 3.0),
        ],
    )
    conn.cursor().executemany(
        "INSERT INTO device_events (time, dev_eui, code, active) VALUES (%s, %s, %s, %s)",
        [
            (now - timedelta(hours=3), B, "leak", True),
            (now - timedelta(hours=4), A, "burst", True),
            (now - timedelta(hours=2), A, "burst", False),  # cleared
        ],
    )


def test_water_map_places_meters_with_last_reading_and_alerts(fleet_db: FleetDatabase) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ctx = QueryContext(now - timedelta(days=7), now, timedelta(minutes=10), fleet_db.timescaledb)
    variables = {
        "site": VariableValue((SITE, NOWHERE), True),
        "leak_threshold": VariableValue("0.01"),
    }
    with psycopg.connect(fleet_db.url) as conn:  # one transaction, rolled back on exit
        _place_meters(conn, now)
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READER_ROLE)))
        result = run(conn, expand(_map_sql(), ctx, variables))
        conn.rollback()
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    got = {
        (
            r["meter"],
            r["latitude"],
            r["longitude"],
            r["last reading"],
            r["read at"],
            r["leak suspected"],
            r["meter alarms"],
            r["alerts"],
        )
        for r in rows
    }
    assert got == {
        ("meter 1", 47.40, 0.70, 12.5, now - timedelta(hours=1), False, "", 0),
        ("meter 2", 47.39, 0.69, None, None, False, "leak", 1),
        ("meter 3", 47.39, 0.69, 3.0, now - timedelta(hours=1), False, "", 0),
    }
    assert {r["unit"] for r in rows} == {"m³"}
    assert {r["site"] for r in rows} == {SITE}
