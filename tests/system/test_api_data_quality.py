"""The data-quality routes: observations of the SQL function `icone_counter_observations`,
per device and per site, for the roles that read measurements and within the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from ingest_service.writer import write_batch
from storage import apikeys
from storage.records import Batch, MeasurementRow
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites

METER = "ec0e00000000dd01"  # site dc: a 1 L step back, then an unrecorded replacement
OTHER = "ec0e00000000dd02"  # site school: a 2 L step back
WATER = "water_volume_index"
START = datetime(2026, 10, 5, 22, 0, tzinfo=UTC)


def _seed(database: str) -> dict[str, str]:
    def rows(dev: str, values: list[float]) -> list[MeasurementRow]:
        return [
            MeasurementRow(START + timedelta(hours=h), dev, WATER, "", v)
            for h, v in enumerate(values)
        ]

    with psycopg.connect(database) as conn:
        upsert_sites(
            conn,
            [SiteSpec("dc", "Datacenter", "datacenter"), SiteSpec("school", "École", "school")],
        )
        upsert_devices(
            conn,
            [
                DeviceSpec(METER, "kamstrup-flowiq2200", site_id="dc"),
                DeviceSpec(OTHER, "kamstrup-flowiq2200", site_id="school"),
            ],
        )
        write_batch(
            conn,
            Batch(
                measurements=rows(METER, [100.0, 100.010, 100.009, 100.020, 0.004, 0.010])
                + rows(OTHER, [50.0, 49.998, 50.1])
            ),
        )
        return {
            "admin": apikeys.create_key(conn, "a", "admin"),
            "manager": apikeys.create_key(conn, "m", "energy_manager"),
            "dc_technician": apikeys.create_key(conn, "t", "technician", ["dc"]),
            "school_manager": apikeys.create_key(conn, "s", "energy_manager", ["school"]),
            "reporting": apikeys.create_key(conn, "r", "reporting"),
        }


def test_data_quality_per_device_and_site_by_role_and_scope(database: str) -> None:
    keys = _seed(database)
    window = {"since": START.isoformat(), "until": (START + timedelta(days=1)).isoformat()}
    with TestClient(create_app(database)) as http:

        def get(key: str, path: str, **params: Any) -> tuple[int, Any]:
            response = http.get(
                path,
                params={**window, **params},
                headers={"Authorization": f"Bearer {key}"},
            )
            return response.status_code, response.json()

        status, device = get(keys["manager"], f"/devices/{METER}/data-quality")
        assert status == 200, device
        assert [(o["kind"], o["previous"], o["value"]) for o in device["data"]] == [
            ("step_back", 100.010, 100.009),
            ("reset", 100.020, 0.004),
        ]
        assert [round(o["size"], 9) for o in device["data"]] == [-0.001, 0.004]
        assert device["data"][0]["time"] == (START + timedelta(hours=2)).isoformat().replace(
            "+00:00", "Z"
        )
        assert device["data"][0]["unit"] == "m³"

        status, site = get(keys["dc_technician"], "/sites/dc/data-quality")
        assert status == 200, site
        assert site["data"] == device["data"]
        assert get(keys["admin"], "/sites/school/data-quality")[1]["count"] == 1
        assert (
            get(keys["school_manager"], "/sites/school/data-quality")[1]["data"][0]["dev_eui"]
            == OTHER
        )

        # scope: outside it, not even the existence of the device or site is revealed
        assert get(keys["school_manager"], f"/devices/{METER}/data-quality")[0] == 404
        assert get(keys["school_manager"], "/sites/dc/data-quality")[0] == 404
        assert get(keys["dc_technician"], f"/devices/{OTHER}/data-quality")[0] == 404
        assert get(keys["manager"], "/devices/ec0e00000000dd99/data-quality")[0] == 404
        assert get(keys["manager"], "/sites/nowhere/data-quality")[0] == 404
        # role: reporting reads aggregated indicators only, never per-device readings
        assert get(keys["reporting"], f"/devices/{METER}/data-quality")[0] == 403
        assert get(keys["reporting"], "/sites/dc/data-quality")[0] == 403
        assert http.get(f"/devices/{METER}/data-quality").status_code == 401

        # client input errors are 422, never 5xx
        assert get(keys["manager"], "/sites/dc/data-quality", until=window["since"])[0] == 422
        naive = {"since": "2026-10-05T00:00:00"}
        assert get(keys["manager"], "/sites/dc/data-quality", **naive)[0] == 422
        long = {"since": (START - timedelta(days=400)).isoformat()}
        assert get(keys["manager"], "/sites/dc/data-quality", **long)[0] == 422
