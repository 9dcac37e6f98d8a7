"""Site consumption through the API equals the SQL single source of truth, within scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from ingest_service.writer import write_batch
from storage import apikeys
from storage.consumption import consumption
from storage.records import Batch, MeasurementRow
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites

METER = "ec0e00000000aa01"
START = datetime(2026, 10, 5, 22, 0, tzinfo=UTC)  # 00:00 in Paris (CEST)


def _seed(database: str) -> dict[str, str]:
    with psycopg.connect(database) as conn:
        upsert_sites(
            conn,
            [SiteSpec("dc", "Datacenter", "datacenter"), SiteSpec("school", "École", "school")],
        )
        upsert_devices(conn, [DeviceSpec(METER, "adeunis-tic-cbe-linky-mono", site_id="dc")])
        # a kWh index read every hour for two days: +10 kWh per hour
        batch = Batch(
            measurements=[
                MeasurementRow(
                    START + timedelta(hours=h),
                    METER,
                    "energy_active_import_index",
                    "BASE",
                    1000.0 + 10 * h,
                )
                for h in range(49)
            ]
        )
        write_batch(conn, batch)
        return {
            "reporting": apikeys.create_key(conn, "r", "reporting"),
            "school_reporting": apikeys.create_key(conn, "s", "reporting", ["school"]),
            "technician": apikeys.create_key(conn, "t", "technician"),
        }


def test_site_consumption_matches_the_sql_function(database: str) -> None:
    keys = _seed(database)
    params = {
        "metric": "energy_active_import_index",
        "from": START.isoformat(),
        "to": (START + timedelta(days=2)).isoformat(),
        "bucket": "day",
    }
    with TestClient(create_app(database)) as http:

        def get(key: str, path: str = "/sites/dc/consumption") -> tuple[int, dict[str, object]]:
            response = http.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
            return response.status_code, response.json()

        status, body = get(keys["reporting"])
        assert status == 200, body
        assert get(keys["school_reporting"])[0] == 404  # out of scope: not even its existence
        assert get(keys["technician"])[0] == 403
        sites = http.get("/sites", headers={"Authorization": f"Bearer {keys['school_reporting']}"})
        assert [s["id"] for s in sites.json()["data"]] == ["school"]

    with psycopg.connect(database) as conn:
        reference = consumption(
            conn,
            START,
            START + timedelta(days=2),
            "day",
            site_id="dc",
            metric="energy_active_import_index",
        )
    by_day: dict[datetime, float] = {}
    for row in reference:
        by_day[row.bucket] = by_day.get(row.bucket, 0.0) + row.consumption
    assert body["unit"] == "kWh"
    assert {datetime.fromisoformat(p["bucket"]): p["value"] for p in body["data"]} == by_day
    assert body["total"] == 480.0  # 48 hourly steps of 10 kWh


def test_consumption_rejects_gauges_and_naive_times(database: str) -> None:
    keys = _seed(database)
    with TestClient(create_app(database)) as http:
        headers = {"Authorization": f"Bearer {keys['reporting']}"}
        gauge = http.get(
            "/sites/dc/consumption",
            headers=headers,
            params={
                "metric": "temperature",
                "from": "2026-10-01T00:00:00+00:00",
                "to": "2026-10-02T00:00:00+00:00",
            },
        )
        naive = http.get(
            "/sites/dc/consumption",
            headers=headers,
            params={
                "metric": "energy_active_import_index",
                "from": "2026-10-01T00:00:00",
                "to": "2026-10-02T00:00:00",
            },
        )
    assert gauge.status_code == 422
    assert naive.status_code == 422
