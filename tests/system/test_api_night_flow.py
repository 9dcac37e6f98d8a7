"""GET /sites/{id}/night-flow: the SQL night-flow rule through the API, with roles and scopes.

Hand-computed: 15-minute readings; the leaking meter adds 0.01 m³ every quarter hour (0.04 m³/h
all night), the other stops for the 03:00-04:00 (Paris) hour of the second night. In October
before the DST change Paris is UTC+2: the night of 2026-10-07 is 2026-10-06 23:00Z-10-07 03:00Z.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from ingest_service.writer import write_batch
from storage import apikeys
from storage.records import Batch, MeasurementRow
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites
from storage.rollups import refresh_rollups

LEAK, QUIET = "ec0e00000000bb01", "ec0e00000000bb02"
START = datetime(2026, 10, 5, 20, 0, tzinfo=UTC)
STOPPED = (datetime(2026, 10, 7, 1, 0, tzinfo=UTC), datetime(2026, 10, 7, 2, 0, tzinfo=UTC))


def _readings(dev_eui: str, stops: bool) -> list[MeasurementRow]:
    rows, value, t = [], 250.0, START
    while t <= START + timedelta(hours=36):
        rows.append(MeasurementRow(t, dev_eui, "water_volume_index", "", round(value, 3)))
        if not (stops and STOPPED[0] <= t < STOPPED[1]):
            value += 0.01
        t += timedelta(minutes=15)
    return rows


def _seed(database: str) -> dict[str, str]:
    with psycopg.connect(database) as conn:
        upsert_sites(
            conn, [SiteSpec("school", "École", "school"), SiteSpec("dc", "DC", "datacenter")]
        )
        upsert_devices(
            conn,
            [
                DeviceSpec(LEAK, "axioma-qalcosonic-w1", site_id="school"),
                DeviceSpec(QUIET, "axioma-qalcosonic-w1", site_id="school"),
            ],
        )
        write_batch(conn, Batch(measurements=_readings(LEAK, False) + _readings(QUIET, True)))
        refresh_rollups(conn, START - timedelta(days=1))
        conn.commit()
        return {
            "reporting": apikeys.create_key(conn, "r", "reporting"),
            "dc_only": apikeys.create_key(conn, "d", "reporting", ["dc"]),
            "technician": apikeys.create_key(conn, "t", "technician"),
        }


def test_night_flow_per_meter_and_the_leak_flag(database: str) -> None:
    keys = _seed(database)
    params = {"until": "2026-10-07", "nights": "2", "threshold": "0.001"}
    with TestClient(create_app(database)) as http:

        def get(key: str, **extra: str) -> tuple[int, dict[str, object]]:
            response = http.get(
                "/sites/school/night-flow",
                params={**params, **extra},
                headers={"Authorization": f"Bearer {key}"},
            )
            return response.status_code, response.json()

        status, body = get(keys["reporting"])
        assert get(keys["dc_only"])[0] == 404  # another site's key does not learn it exists
        assert get(keys["technician"])[0] == 403
        assert get(keys["reporting"], metric="temperature")[0] == 422  # not a register
        assert get(keys["reporting"], nights="0")[0] == 422
    assert status == 200, body
    assert body["unit"] == "m³/h"
    meters = {m["dev_eui"]: m for m in body["meters"]}  # type: ignore[attr-defined]
    assert meters[LEAK]["leak_suspected"] is True
    assert meters[QUIET]["leak_suspected"] is False
    assert [
        (n["night"], round(n["min_flow"], 9), n["hours"], n["window_hours"])
        for n in meters[LEAK]["nights"]
    ] == [("2026-10-06", 0.04, 4, 4), ("2026-10-07", 0.04, 4, 4)]
    assert [round(n["min_flow"], 9) for n in meters[QUIET]["nights"]] == [0.04, 0.0]
