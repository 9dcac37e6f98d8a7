"""Every device endpoint needs a key; roles and site scopes are enforced."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from storage import apikeys
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites

DC_DEVICE = "a84041000181c2d7"
SCHOOL_DEVICE = "a84041000181c2d8"


def _setup(database: str) -> dict[str, str]:
    with psycopg.connect(database) as conn:
        upsert_sites(
            conn,
            [SiteSpec("dc", "Datacenter", "datacenter"), SiteSpec("school", "École", "school")],
        )
        upsert_devices(
            conn,
            [
                DeviceSpec(DC_DEVICE, "milesight-em300-th", site_id="dc"),
                DeviceSpec(SCHOOL_DEVICE, "milesight-em300-th", site_id="school"),
            ],
        )
        return {
            "admin": apikeys.create_key(conn, "a", "admin"),
            "dc_manager": apikeys.create_key(conn, "m", "energy_manager", ["dc"]),
            "reporting": apikeys.create_key(conn, "r", "reporting"),
        }


def test_keys_roles_and_scopes(database: str) -> None:
    keys = _setup(database)
    with TestClient(create_app(database)) as http:

        def get(path: str, key: str | None) -> int:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return http.get(path, headers=headers).status_code

        assert get("/devices", None) == 401
        assert get("/devices", "icone_deadbeefdeadbeef_wrong") == 401
        assert get("/devices", "garbage") == 401
        assert get("/devices", keys["admin"]) == 200
        assert get(f"/devices/{SCHOOL_DEVICE}/measurements", keys["admin"]) == 200
        # scoped manager: sees the datacenter, not the school (404, not 403: no existence leak)
        assert get(f"/devices/{DC_DEVICE}/measurements", keys["dc_manager"]) == 200
        assert get(f"/devices/{SCHOOL_DEVICE}/measurements", keys["dc_manager"]) == 404
        listed = http.get("/devices", headers={"X-API-Key": keys["dc_manager"]}).json()
        assert [d["dev_eui"] for d in listed["data"]] == [DC_DEVICE]
        # reporting role: aggregated indicators only, never per-device readings
        assert get(f"/devices/{DC_DEVICE}/measurements", keys["reporting"]) == 403
        assert get("/devices", keys["reporting"]) == 403


def test_revoked_key_is_refused(database: str) -> None:
    keys = _setup(database)
    key_id = keys["admin"].split("_")[1]
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (key_id,))
    with TestClient(create_app(database)) as http:
        response = http.get("/devices", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert response.status_code == 401
