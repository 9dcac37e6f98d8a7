"""The API's edge: bad input is a 422 naming the parameter, every error has one JSON shape,
unexpected errors are a 500 with a request id logged once, and the access log never holds
the key. Against the real app and database (TestClient runs the ASGI app in-process)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from storage import apikeys
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites

DEVICE = "a84041000181c2d7"
ERROR_KEYS = {"status", "detail", "request_id", "errors"}


@pytest.fixture
def http(database: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with psycopg.connect(database) as conn:
        upsert_sites(conn, [SiteSpec("dc", "Datacenter", "datacenter")])
        upsert_devices(
            conn,
            [
                DeviceSpec(f"a84041000181c2{i:02x}", "milesight-em300-th", site_id="dc")
                for i in range(5)
            ]
            + [DeviceSpec(DEVICE, "milesight-em300-th", site_id="dc")],
        )
        key = apikeys.create_key(conn, "a", "admin")
    with TestClient(create_app(database)) as client:
        yield client, {"Authorization": f"Bearer {key}"}


def _error(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == ERROR_KEYS
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]  # type: ignore[attr-defined]
    return body  # type: ignore[no-any-return]


BAD_PARAMETERS = [
    (f"/devices/{DEVICE}%00", "dev_eui"),
    ("/devices?site_id=abc%00", "site_id"),
    (f"/devices/{DEVICE}/measurements?channel=a%00", "channel"),
    (f"/devices/{DEVICE}/measurements?metric=temperature%01", "metric"),
    (
        "/sites/x%00/consumption?metric=energy_index&from=2026-01-01T00:00Z&to=2026-01-02T00:00Z",
        "site_id",
    ),
    ("/sites/x%1f/night-flow?until=2026-01-01", "site_id"),
    ("/devices?offset=99999999999999999999", "offset"),
    ("/devices?offset=2147483648", "offset"),
    ("/devices?limit=0", "limit"),
    ("/sites/dc/night-flow?until=2026-01-01&threshold=nan", "threshold"),
    ("/sites/dc/night-flow?until=9999-12-31", "until"),
]


def test_bad_parameters_are_422_naming_them(http: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = http
    for path, parameter in BAD_PARAMETERS:
        body = _error(client.get(path, headers=auth), 422)
        assert [e["name"] for e in body["errors"]] == [parameter], path  # type: ignore[union-attr]


def test_consistent_rules_across_endpoints(http: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = http
    # an unknown metric: 422 everywhere
    assert (
        client.get(f"/devices/{DEVICE}/measurements?metric=nope", headers=auth).status_code == 422
    )
    consumption = "/sites/dc/consumption?metric=nope&from=2026-01-01T00:00Z&to=2026-01-02T00:00Z"
    assert client.get(consumption, headers=auth).status_code == 422
    # a naive datetime: 422 everywhere
    naive = f"/devices/{DEVICE}/measurements?since=2026-01-01T00:00:00"
    assert _error(client.get(naive, headers=auth), 422)["errors"][0]["name"] == "since"  # type: ignore[index]
    # since after until: 422 everywhere, naming the second bound
    reversed_range = (
        f"/devices/{DEVICE}/measurements?since=2026-01-02T00:00Z&until=2026-01-01T00:00Z"
    )
    assert _error(client.get(reversed_range, headers=auth), 422)["errors"][0]["name"] == "until"  # type: ignore[index]
    reversed_consumption = "/sites/dc/consumption?metric=water_volume_index&from=2026-01-02T00:00Z&to=2026-01-01T00:00Z"
    assert _error(client.get(reversed_consumption, headers=auth), 422)["errors"][0]["name"] == "to"  # type: ignore[index]


def test_one_error_shape_for_every_status(http: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = http
    _error(client.get("/no/such/path", headers=auth), 404)
    not_allowed = client.delete("/health")
    _error(not_allowed, 405)
    assert not_allowed.headers["allow"] == "GET"
    _error(client.get("/devices"), 401)
    _error(client.get("/devices/0000000000000000", headers=auth), 404)
    # a client's own short request id is echoed
    response = client.get("/nope", headers={"X-Request-ID": "abc-123"})
    assert _error(response, 404)["request_id"] == "abc-123"


def test_count_is_the_total_not_the_page(http: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = http
    page = client.get("/devices?limit=2&offset=1", headers=auth).json()
    assert len(page["data"]) == 2
    assert page["count"] == 6


def test_unexpected_error_is_a_500_with_its_id_logged_once(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(database)

    async def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/broken", broken)
    with TestClient(app) as client, caplog.at_level(logging.INFO):
        response = client.get("/broken")
    body = _error(response, 500)
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1
    assert logged[0].request_id == body["request_id"]  # type: ignore[attr-defined]


def test_access_log_has_key_id_never_the_key(
    http: tuple[TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    client, auth = http
    with caplog.at_level(logging.INFO, logger="api.access"):
        client.get(f"/devices/{DEVICE}", headers=auth)
    (record,) = [r for r in caplog.records if r.name == "api.access"]
    token = auth["Authorization"].removeprefix("Bearer ")
    assert record.path == "/devices/{dev_eui}"  # type: ignore[attr-defined]
    assert (record.method, record.status) == ("GET", 200)  # type: ignore[attr-defined]
    assert record.key_id == apikeys.split_token(token)[0]  # type: ignore[attr-defined,index]
    assert isinstance(record.duration_ms, float)  # type: ignore[attr-defined]
    assert token not in str(record.__dict__)
    assert apikeys.split_token(token)[1] not in str(record.__dict__)  # type: ignore[index]


def test_openapi_lists_errors_and_roles(http: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = http
    spec = client.get("/openapi.json").json()
    measurements = spec["paths"]["/devices/{dev_eui}/measurements"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(measurements["responses"])
    assert measurements["x-roles"] == ["admin", "energy_manager", "technician"]
    assert "Roles: admin, energy_manager, technician." in measurements["description"]
    assert spec["paths"]["/health"]["get"]["x-roles"] == ["public"]


def test_docs_assets_served_from_our_origin(http: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = http
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html.text)
        assets = [u for u in urls if not u.startswith("#")]
        assert assets, f"{page} references no asset"
        for url in assets:
            assert url.startswith("/"), f"{page} loads {url} from another origin"
            assert client.get(url).status_code == 200, url
