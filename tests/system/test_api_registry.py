"""The registry's routes: for each, 401 without a key, 403 for a role that may not, 404 for
a device or site outside the key's scope, and otherwise the change with its audit row.
Plus ETags, field-level 422s, and a CSV import of 100 lines with 3 bad ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from storage import apikeys
from storage.appkey_cipher import AppKeyCipher
from storage.registry import SiteSpec, upsert_sites
from tests.system.helpers import count

DC_DEV = "a84041000181c2d7"
SCHOOL_DEV = "a84041000181c2d8"
PULSE_DEV = "0018b20000000001"
KEY = "2b7e151628aed2a6abf7158809cf4f3c"


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def setup(
    database: str, appkey_cipher: AppKeyCipher
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with psycopg.connect(database) as conn:
        keys = {"admin": apikeys.create_key(conn, "admin", "admin")}
    with TestClient(create_app(database, appkey_cipher=appkey_cipher)) as client:
        yield _populated(client, keys)


def _populated(client: TestClient, keys: dict[str, str]) -> tuple[TestClient, dict[str, str]]:
    admin = _auth(keys["admin"])
    for site in (
        {"id": "dc", "name": "Datacenter", "kind": "datacenter"},
        {"id": "school", "name": "École", "kind": "school"},
    ):
        assert client.post("/sites", json=site, headers=admin).status_code == 201
    for dev, site, model, role in (
        (DC_DEV, "dc", "milesight-em300-th", "rack_inlet"),
        (SCHOOL_DEV, "school", "milesight-em300-th", "room"),
        (PULSE_DEV, "dc", "adeunis-pulse-4", "main_water"),
    ):
        body = {"dev_eui": dev, "model": model, "site_id": site, "role": role, "app_key": KEY}
        if model == "adeunis-pulse-4":
            body["pulse_weights"] = {"A": {"metric": "water_volume_index", "per_pulse": 0.001}}
        answer = client.post("/devices", json=body, headers=admin)
        assert answer.status_code == 201, answer.text
    for name, role, scope in (
        ("tech_dc", "technician", ["dc"]),
        ("manager_dc", "energy_manager", ["dc"]),
        ("technician", "technician", None),
        ("reporting", "reporting", None),
    ):
        answer = client.post(
            "/api-keys", json={"name": name, "role": role, "site_ids": scope}, headers=admin
        )
        assert answer.status_code == 201, answer.text
        keys[name] = answer.json()["token"]
    return client, keys


Request = Callable[[TestClient, str | None], httpx.Response]


def _etag(client: TestClient, path: str, token: str) -> str:
    return client.get(path, headers=_auth(token)).headers["ETag"]


def _patch_device(dev: str) -> Request:
    def call(c: TestClient, t: str | None) -> httpx.Response:
        etag = _etag(c, f"/devices/{dev}", c.admin) if t else '"1"'  # type: ignore[attr-defined]
        return c.patch(
            f"/devices/{dev}", json={"location": "rack C1"}, headers={**_auth(t), "If-Match": etag}
        )

    return call


def _retire_device(dev: str) -> Request:
    def call(c: TestClient, t: str | None) -> httpx.Response:
        etag = _etag(c, f"/devices/{dev}", c.admin) if t else '"1"'  # type: ignore[attr-defined]
        return c.delete(f"/devices/{dev}", headers={**_auth(t), "If-Match": etag})

    return call


def _site_call(method: str, site: str, body: dict[str, Any] | None) -> Request:
    def call(c: TestClient, t: str | None) -> httpx.Response:
        etag = _etag(c, f"/sites/{site}", c.admin) if t else '"1"'  # type: ignore[attr-defined]
        return c.request(
            method, f"/sites/{site}", json=body, headers={**_auth(t), "If-Match": etag}
        )

    return call


def _swap(dev: str) -> Request:
    body = {
        "metric": "water_volume_index",
        "channel": "A",
        "swapped_at": "2026-11-02T09:30:00+01:00",
        "old_final_index": 1234.5,
        "new_initial_index": 0.25,
    }
    return lambda c, t: c.post(f"/devices/{dev}/meter-swaps", json=body, headers=_auth(t))


def _register(dev: str) -> Request:
    body = {
        "metric": "water_volume_index",
        "channel": "A",
        "register_digits": 8,
        "register_step": 0.001,
        "commissioned_at": "2026-10-01T08:00:00Z",
        "index_at_commissioning": 1000.0,
    }
    return lambda c, t: c.put(f"/devices/{dev}/registers", json=body, headers=_auth(t))


def _create(dev: str, site: str) -> Request:
    body = {"dev_eui": dev, "model": "milesight-em300-th", "site_id": site}
    return lambda c, t: c.post("/devices", json=body, headers=_auth(t))


def _csv(site: str, dev: str) -> Request:
    text = f"dev_eui,model,site_id\n{dev},milesight-em300-th,{site}\n"
    return lambda c, t: c.post(
        "/imports/devices", content=text, headers={**_auth(t), "Content-Type": "text/csv"}
    )


def _heard_register(dev: str, site: str) -> Request:
    body = {"dev_eui": dev, "model": "milesight-em300-th", "site_id": site}
    return lambda c, t: c.post(f"/unregistered/{dev}/register", json=body, headers=_auth(t))


def _post(path: str) -> Request:
    return lambda c, t: c.post(path, headers=_auth(t))


def _get(path: str) -> Request:
    return lambda c, t: c.get(path, headers=_auth(t))


# (route, request, role refused (403), out-of-scope request (404) with its key,
#  allowed request with its key, expected status, audit rows the allowed request adds)
ROUTES: list[
    tuple[str, Request, str, tuple[Request, str] | None, tuple[Request, str], int, int]
] = [
    (
        "POST /devices",
        _create("0000000000000101", "dc"),
        "reporting",
        (_create("0000000000000102", "school"), "tech_dc"),
        (_create("0000000000000103", "dc"), "tech_dc"),
        201,
        1,
    ),
    (
        "PATCH /devices/{eui}",
        _patch_device(DC_DEV),
        "manager_dc",
        (_patch_device(SCHOOL_DEV), "tech_dc"),
        (_patch_device(DC_DEV), "tech_dc"),
        200,
        1,
    ),
    (
        "PUT /devices/{eui}/registers",
        _register(PULSE_DEV),
        "reporting",
        (_register(SCHOOL_DEV), "tech_dc"),
        (_register(PULSE_DEV), "tech_dc"),
        200,
        1,
    ),
    (
        "GET /devices/{eui}/registers",
        _get(f"/devices/{PULSE_DEV}/registers"),
        "reporting",
        (_get(f"/devices/{SCHOOL_DEV}/registers"), "tech_dc"),
        (_get(f"/devices/{PULSE_DEV}/registers"), "manager_dc"),
        200,
        0,
    ),
    (
        "POST /devices/{eui}/meter-swaps",
        _swap(PULSE_DEV),
        "manager_dc",
        (_swap(SCHOOL_DEV), "tech_dc"),
        (_swap(PULSE_DEV), "tech_dc"),
        201,
        1,
    ),
    (
        "GET /devices/{eui}/meter-swaps",
        _get(f"/devices/{PULSE_DEV}/meter-swaps"),
        "reporting",
        (_get(f"/devices/{SCHOOL_DEV}/meter-swaps"), "manager_dc"),
        (_get(f"/devices/{PULSE_DEV}/meter-swaps"), "manager_dc"),
        200,
        0,
    ),
    (
        "GET /devices/{eui}/technician",
        _get(f"/devices/{DC_DEV}/technician"),
        "reporting",
        (_get(f"/devices/{SCHOOL_DEV}/technician"), "tech_dc"),
        (_get(f"/devices/{DC_DEV}/technician"), "tech_dc"),
        200,
        0,
    ),
    (
        "GET /devices/{eui}",
        _get(f"/devices/{DC_DEV}"),
        "reporting",
        (_get(f"/devices/{SCHOOL_DEV}"), "tech_dc"),
        (_get(f"/devices/{DC_DEV}"), "tech_dc"),
        200,
        0,
    ),
    (
        "POST /imports/devices",
        _csv("dc", "0000000000000201"),
        "manager_dc",
        (_csv("school", "0000000000000202"), "tech_dc"),
        (_csv("dc", "0000000000000203"), "tech_dc"),
        200,
        1,
    ),
    (
        "POST /onboarding/qr",
        lambda c, t: c.post("/onboarding/qr", json={"code": DC_DEV}, headers=_auth(t)),
        "reporting",
        None,
        (lambda c, t: c.post("/onboarding/qr", json={"code": DC_DEV}, headers=_auth(t)), "tech_dc"),
        200,
        0,
    ),
    (
        "GET /unregistered",
        _get("/unregistered"),
        "manager_dc",
        None,
        (_get("/unregistered"), "technician"),
        200,
        0,
    ),
    (
        "POST /unregistered/{eui}/register",
        _heard_register("0000000000000301", "dc"),
        "reporting",
        (_heard_register("0000000000000302", "school"), "tech_dc"),
        (_heard_register("0000000000000303", "dc"), "tech_dc"),
        201,
        1,
    ),
    (  # ChirpStack is off here: the allowed call says so (tests/registry covers the rest)
        "POST /devices/{eui}/provision",
        _post(f"/devices/{DC_DEV}/provision"),
        "reporting",
        (_post(f"/devices/{SCHOOL_DEV}/provision"), "tech_dc"),
        (_post(f"/devices/{DC_DEV}/provision"), "tech_dc"),
        409,
        0,
    ),
    (
        "DELETE /devices/{eui}",
        _retire_device(DC_DEV),
        "reporting",
        (_retire_device(SCHOOL_DEV), "tech_dc"),
        (_retire_device(DC_DEV), "tech_dc"),
        200,
        1,
    ),
    (
        "POST /sites",
        lambda c, t: c.post(
            "/sites", json={"id": "pool", "name": "Piscine", "kind": "sports"}, headers=_auth(t)
        ),
        "technician",
        None,
        (
            lambda c, t: c.post(
                "/sites", json={"id": "pool", "name": "Piscine", "kind": "sports"}, headers=_auth(t)
            ),
            "admin",
        ),
        201,
        1,
    ),
    (
        "GET /sites/{id}",
        _get("/sites/dc"),
        "reporting",
        (_get("/sites/school"), "tech_dc"),
        (_get("/sites/dc"), "tech_dc"),
        200,
        0,
    ),
    (
        "PATCH /sites/{id}",
        _site_call("PATCH", "dc", {"floor_area_m2": 850.0}),
        "technician",
        (_site_call("PATCH", "school", {"floor_area_m2": 1.0}), "manager_dc"),
        (_site_call("PATCH", "dc", {"floor_area_m2": 850.0}), "manager_dc"),
        200,
        1,
    ),
    (
        "DELETE /sites/{id}",
        _site_call("DELETE", "pool", None),
        "technician",
        (_site_call("DELETE", "school", None), "manager_dc"),
        (_site_call("DELETE", "pool", None), "admin"),
        200,
        1,
    ),
    ("GET /api-keys", _get("/api-keys"), "technician", None, (_get("/api-keys"), "admin"), 200, 0),
    (
        "POST /api-keys",
        lambda c, t: c.post(
            "/api-keys", json={"name": "new", "role": "reporting"}, headers=_auth(t)
        ),
        "manager_dc",
        None,
        (
            lambda c, t: c.post(
                "/api-keys", json={"name": "new", "role": "reporting"}, headers=_auth(t)
            ),
            "admin",
        ),
        201,
        1,
    ),
    ("GET /audit", _get("/audit"), "technician", None, (_get("/audit"), "admin"), 200, 0),
]


def test_every_registry_route_checks_key_role_and_scope(
    database: str, setup: tuple[TestClient, dict[str, str]]
) -> None:
    client, keys = setup
    client.admin = keys["admin"]  # type: ignore[attr-defined]
    for name, request, refused, outside, (allowed, key), expected, audited in ROUTES:
        assert request(client, None).status_code == 401, name
        answer = request(client, keys[refused])
        assert answer.status_code == 403, (name, answer.text)
        if outside is not None:
            call, scoped = outside
            answer = call(client, keys[scoped])
            if name == "POST /imports/devices":  # a report: the line is refused, site not found
                assert answer.json()["lines"][0]["errors"][0]["msg"] == "site not found"
            else:
                assert answer.status_code == 404, (name, answer.text)
        before = count(database, "SELECT count(*) FROM audit_log")
        answer = allowed(client, keys[key])
        assert answer.status_code == expected, (name, answer.text)
        after = count(database, "SELECT count(*) FROM audit_log")
        assert after - before == audited, name
    # the key revocation route, last (it removes a key)
    new_id = client.get("/api-keys", headers=_auth(keys["admin"])).json()["data"][-1]["id"]
    assert client.delete(f"/api-keys/{new_id}").status_code == 401
    assert client.delete(f"/api-keys/{new_id}", headers=_auth(keys["tech_dc"])).status_code == 403
    assert (
        client.delete("/api-keys/0000000000000000", headers=_auth(keys["admin"])).status_code == 404
    )
    revoked = client.delete(f"/api-keys/{new_id}", headers=_auth(keys["admin"]))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None


def _errors(answer: httpx.Response) -> dict[tuple[Any, ...], str]:
    assert answer.status_code == 422, answer.text
    # the API's error body names each field by its path in the body: ("body", "dev_eui")
    return {
        (e["location"], *(int(p) if p.isdigit() else p for p in e["name"].split("."))): e["message"]
        for e in answer.json()["errors"]
    }


def test_validation_concurrency_and_secrets(
    database: str, setup: tuple[TestClient, dict[str, str]]
) -> None:
    client, keys = setup
    admin = _auth(keys["admin"])
    bad = client.post(
        "/devices",
        json={"dev_eui": "A84041000181C2", "model": "milesight-em300-th", "app_key": "12"},
        headers=admin,
    )
    assert set(_errors(bad)) == {("body", "dev_eui"), ("body", "app_key")}
    catalogue_checks = client.post(
        "/devices",
        json={
            "dev_eui": "00000000000000F1",
            "model": "milesight-em300-th",
            "role": "main_water",
            "site_id": "nowhere",
            "pulse_weights": {"A": {"metric": "water_volume_index", "per_pulse": 1}},
        },
        headers=admin,
    )
    assert set(_errors(catalogue_checks)) == {
        ("body", "role"),
        ("body", "pulse_weights"),
        ("body", "site_id"),
    }
    unknown_model = client.post(
        "/devices", json={"dev_eui": "00000000000000F2", "model": "acme-x"}, headers=admin
    )
    assert set(_errors(unknown_model)) == {("body", "model")}
    wrong_channel = client.post(
        "/devices",
        json={
            "dev_eui": "00000000000000F3",
            "model": "adeunis-pulse-4",
            "pulse_weights": {"C": {"metric": "temperature", "per_pulse": 1}},
        },
        headers=admin,
    )
    assert set(_errors(wrong_channel)) == {
        ("body", "pulse_weights", "C"),
        ("body", "pulse_weights", "C", "metric"),
    }
    assert (
        client.post(
            "/devices", json={"dev_eui": DC_DEV, "model": "milesight-em300-th"}, headers=admin
        ).status_code
        == 409
    )

    # ETag / If-Match
    first = client.get(f"/devices/{DC_DEV}", headers=admin)
    etag = first.headers["ETag"]
    change = {"location": "rack B5"}
    assert client.patch(f"/devices/{DC_DEV}", json=change, headers=admin).status_code == 428
    ok = client.patch(f"/devices/{DC_DEV}", json=change, headers={**admin, "If-Match": etag})
    assert ok.status_code == 200
    assert ok.headers["ETag"] != etag
    assert ok.json()["location"] == "rack B5"
    stale = client.patch(f"/devices/{DC_DEV}", json=change, headers={**admin, "If-Match": etag})
    assert stale.status_code == 412
    assert (
        client.patch(
            f"/devices/{DC_DEV}",
            json={"model": "acme-x"},
            headers={**admin, "If-Match": ok.headers["ETag"]},
        ).status_code
        == 422
    )
    rekey = client.patch(
        f"/devices/{DC_DEV}",
        json={"app_key": "00112233445566778899AABBCCDDEEFF"},
        headers={**admin, "If-Match": ok.headers["ETag"]},
    )
    assert rekey.status_code == 200
    # the AppKey never leaves: not in answers, not in the audit log
    everything = " ".join(
        [
            client.get(f"/devices/{DC_DEV}", headers=admin).text,
            client.get("/audit?limit=500", headers=admin).text,
            rekey.text,
        ]
    ).lower()
    assert KEY not in everything
    assert "00112233445566778899aabbccddeeff" not in everything
    assert (
        count(
            database, "SELECT count(*) FROM audit_log WHERE new_value::text ILIKE %s", (f"%{KEY}%",)
        )
        == 0
    )
    # provisioning is off: devices say so
    assert first.json()["provisioning"] == "off"
    # the audit log is append-only
    with psycopg.connect(database) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_log")


def test_csv_import_of_100_lines_with_3_bad(
    database: str, setup: tuple[TestClient, dict[str, str]]
) -> None:
    client, keys = setup
    lines = ["dev_eui,model,site_id,role,app_key,registers"]
    for i in range(100):
        dev, model, role = f"70b3d5000000{i:04x}", "milesight-em300-th", "rack_inlet"
        if i == 10:
            dev = "70b3d500000000zz"  # not hexadecimal
        if i == 50:
            model = "acme-unknown"
        if i == 90:
            role = "main_water"  # a climate sensor cannot be the water main
        lines.append(f"{dev},{model},dc,{role},{KEY},")
    answer = client.post(
        "/imports/devices",
        content="\n".join(lines) + "\n",
        headers={**_auth(keys["tech_dc"]), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["created"], report["rejected"], report["pending"]) == (97, 3, 0)
    rejected = {r["line"]: r["errors"] for r in report["lines"] if r["outcome"] == "rejected"}
    assert sorted(rejected) == [12, 52, 92]  # header = line 1
    assert [e["loc"] for e in rejected[12]] == [["dev_eui"]]
    assert [e["loc"] for e in rejected[52]] == [["model"]]
    assert [e["loc"] for e in rejected[92]] == [["role"]]
    assert "cannot be 'main_water'" in rejected[92][0]["msg"]
    assert count(database, "SELECT count(*) FROM devices WHERE dev_eui LIKE '70b3d5%%'") == 97
    assert count(database, "SELECT count(*) FROM device_keys WHERE dev_eui LIKE '70b3d5%%'") == 97
    audited = "SELECT count(*) FROM audit_log WHERE entity_id LIKE '70b3d5%%' AND action = 'create'"
    assert count(database, audited) == 97


def test_without_a_secret_key_an_app_key_is_refused_not_dropped(database: str) -> None:
    """ChirpStack off and no ICONE_REGISTRY__SECRET_KEY: the AppKey would have to be stored
    (in clear): 422 on app_key saying what to set; without app_key, registering works."""
    with psycopg.connect(database) as conn:
        upsert_sites(conn, [SiteSpec("dc", "Datacenter", "datacenter")])
        admin = _auth(apikeys.create_key(conn, "admin", "admin"))
    body = {"dev_eui": "00000000000000A1", "model": "milesight-em300-th", "site_id": "dc"}
    with TestClient(create_app(database)) as client:
        refused = client.post("/devices", json={**body, "app_key": KEY}, headers=admin)
        assert refused.status_code == 422
        errors = _errors(refused)
        assert set(errors) == {("body", "app_key")}
        assert "ICONE_REGISTRY__SECRET_KEY" in errors[("body", "app_key")]
        assert KEY.lower() not in refused.text.lower()
        assert client.get("/devices/00000000000000A1", headers=admin).status_code == 404
        created = client.post("/devices", json=body, headers=admin)
        assert created.status_code == 201
        change = client.patch(
            "/devices/00000000000000A1",
            json={"app_key": KEY},
            headers={**admin, "If-Match": created.headers["ETag"]},
        )
        assert change.status_code == 422
        assert set(_errors(change)) == {("body", "app_key")}
    assert count(database, "SELECT count(*) FROM device_keys", ()) == 0
