"""ChirpStack provisioning against an in-process gRPC server implementing chirpstack-api's
servicers (tests/registry/chirpstack_fake.py): every request checked field by field, every
error code, and a registration interrupted between ChirpStack's two writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import psycopg
import pytest
from chirpstack_api import api, common
from psycopg import AsyncConnection

from hardware.catalogue import ModelSheet, load_catalogue
from registry import service
from registry.chirpstack import Provisioner
from registry.errors import (
    ChirpStackConflict,
    ChirpStackInvalid,
    ChirpStackUnauthenticated,
    ProvisioningPending,
)
from registry.models import DeviceCreate
from registry.settings import ChirpStackSettings
from storage.appkey_cipher import AppKeyCipher, generate_key, parse_key
from storage.registry import SiteSpec, upsert_sites
from tests.registry.chirpstack_fake import APPLICATION, TENANT, TOKEN, chirpstack_server

DEV = "a84041000181c2d7"
KEY = "2B7E151628AED2A6ABF7158809CF4F3C"
MODEL = "milesight-em300-th"  # LoRaWAN 1.0.2, regional parameters B, class A, 600 s
CIPHER = AppKeyCipher(parse_key(generate_key()))  # ICONE_REGISTRY__SECRET_KEY of these tests


@pytest.fixture(scope="module")
def catalogue() -> dict[str, ModelSheet]:
    return load_catalogue()


def _device(**overrides: Any) -> DeviceCreate:
    values = {
        "dev_eui": DEV.upper(),
        "join_eui": "70B3D57ED0000001",
        "model": MODEL,
        "name": "rack B4 inlet",
        "site_id": "dc",
        "location": "rack B4, cold aisle, 1.1 m",
        "role": "rack_inlet",
        "app_key": KEY,
    }
    return DeviceCreate.model_validate({**values, **overrides})


def _run(
    database: str,
    url: str,
    catalogue: dict[str, ModelSheet],
    work: Callable[[AsyncConnection[Any], service.Registry], Awaitable[Any]],
    token: str = TOKEN,
    cipher: AppKeyCipher | None = CIPHER,
) -> Any:
    settings = ChirpStackSettings(
        url=url, api_token=token, tenant_id=TENANT, application_id=APPLICATION, timeout_s=5
    )

    async def main() -> Any:
        async with (
            await AsyncConnection.connect(database) as conn,
            Provisioner.connect(settings) as provisioner,
        ):
            return await work(conn, service.Registry(catalogue, settings, provisioner, cipher))

    return asyncio.run(main())


def _register(database: str, url: str, catalogue: dict[str, ModelSheet], **kw: Any) -> Any:
    async def work(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
        return await service.register(conn, reg, _device(**kw), actor="test")

    return _run(database, url, catalogue, work)


def _retry(database: str, url: str, catalogue: dict[str, ModelSheet]) -> Any:
    async def work(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
        return await service.retry_pending(conn, reg, actor="test")

    return _run(database, url, catalogue, work)


def _site(database: str) -> None:
    with psycopg.connect(database) as conn:
        upsert_sites(conn, [SiteSpec("dc", "Datacenter", "datacenter")])


def _local(database: str) -> tuple[Any, ...] | None:
    with psycopg.connect(database) as conn:
        return conn.execute(
            "SELECT provisioning, provisioning_error IS NOT NULL, "
            "(SELECT count(*) FROM device_keys k WHERE k.dev_eui = d.dev_eui) "
            "FROM devices d WHERE dev_eui = %s",
            (DEV,),
        ).fetchone()


def _audit(database: str) -> list[str]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT action FROM audit_log WHERE entity = 'device' ORDER BY id"
        ).fetchall()
    return [r[0] for r in rows]


def test_registration_sends_profile_device_and_keys(
    database: str, catalogue: dict[str, ModelSheet]
) -> None:
    _site(database)
    with chirpstack_server() as (url, cs):

        async def work(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
            row = await service.register(conn, reg, _device(), actor="test")
            second = _device(dev_eui="a84041000181c2d8", app_key=None)
            await service.register(conn, reg, second, actor="test")
            return row

        row = _run(database, url, catalogue, work)
    assert row.provisioning == "done"
    assert all(md["authorization"] == f"Bearer {TOKEN}" for md in cs.metadata)
    assert cs.requests("TenantService.Get") == [api.GetTenantRequest(id=TENANT)]
    # the profile: created once from the catalogue sheet, then found by name
    [profile_request] = cs.requests("DeviceProfileService.Create")
    assert profile_request.device_profile == api.DeviceProfile(
        tenant_id=TENANT,
        name=MODEL,
        description="Milesight EM300-TH (ICONE catalogue)",
        region=common.Region.EU868,
        mac_version=common.MacVersion.LORAWAN_1_0_2,
        reg_params_revision=common.RegParamsRevision.B,
        adr_algorithm_id="default",
        payload_codec_runtime=api.CodecRuntime.NONE,
        uplink_interval=600,
        supports_otaa=True,
        supports_class_b=False,
        supports_class_c=False,
        tags={"icone_model": MODEL},
    )
    [profile_id] = cs.profiles
    assert [r.search for r in cs.requests("DeviceProfileService.List")] == [MODEL]
    first, second = cs.requests("DeviceService.Create")
    assert first.device == api.Device(
        dev_eui=DEV,
        name="rack B4 inlet",
        description="rack B4, cold aisle, 1.1 m",
        application_id=APPLICATION,
        device_profile_id=profile_id,
        join_eui="70b3d57ed0000001",
        is_disabled=False,
        tags={"icone_model": MODEL, "icone_site": "dc", "icone_role": "rack_inlet"},
    )
    assert second.device.device_profile_id == profile_id
    # LoRaWAN 1.0.x: the AppKey goes in nwk_key, app_key stays empty
    assert cs.requests("DeviceService.CreateKeys") == [
        api.CreateDeviceKeysRequest(
            device_keys=api.DeviceKeys(dev_eui=DEV, nwk_key=KEY.lower(), app_key="")
        )
    ]
    assert _local(database) == ("done", False, 0)  # our copy of the key is dropped
    assert _audit(database) == ["create", "provision", "create", "provision"]


def test_already_exists_is_a_conflict_and_nothing_is_left(
    database: str, catalogue: dict[str, ModelSheet]
) -> None:
    _site(database)
    with chirpstack_server() as (url, cs):
        _register(database, url, catalogue)
        with psycopg.connect(database) as conn:  # ChirpStack has it; we forget ours
            conn.execute("DELETE FROM devices")
        before = cs.devices[DEV]
        with pytest.raises(ChirpStackConflict, match=f"already has device {DEV}.*{APPLICATION}"):
            _register(database, url, catalogue)
        assert cs.devices[DEV] is before  # theirs untouched
    assert _local(database) is None
    assert _audit(database)[-2:] == ["create", "delete"]


def test_invalid_argument_names_the_field_and_undoes_both_writes(
    database: str, catalogue: dict[str, ModelSheet]
) -> None:
    _site(database)
    with chirpstack_server() as (url, cs):
        cs.fail("DeviceService.CreateKeys", grpc.StatusCode.INVALID_ARGUMENT, "invalid nwk_key")
        with pytest.raises(ChirpStackInvalid) as caught:
            _register(database, url, catalogue)
        assert caught.value.field == "nwk_key"
        assert cs.devices == {}  # the half-created device was deleted there
        assert [r.dev_eui for r in cs.requests("DeviceService.Delete")] == [DEV]
    assert _local(database) is None


@pytest.mark.parametrize(
    ("token", "failure", "cause"),
    [
        (TOKEN, grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
        ("expired-token", None, "ICONE_CHIRPSTACK__API_TOKEN"),
    ],
)
def test_unreachable_or_refused_token_leaves_pending_then_retry_completes(
    database: str,
    catalogue: dict[str, ModelSheet],
    token: str,
    failure: grpc.StatusCode | None,
    cause: str,
) -> None:
    _site(database)
    with chirpstack_server() as (url, cs):
        if failure is not None:
            cs.fail("DeviceService.Create", failure, "connection refused")

        async def work(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
            return await service.register(conn, reg, _device(), actor="test")

        with pytest.raises(ProvisioningPending, match=cause) as caught:
            _run(database, url, catalogue, work, token=token)
        if failure is None:
            assert isinstance(caught.value.cause, ChirpStackUnauthenticated)
        assert _local(database) == ("pending", True, 1)  # key kept for the retry
        done, failed = _retry(database, url, catalogue)
        assert ([d.dev_eui for d in done], failed) == ([DEV], [])
        assert DEV in cs.devices
        assert cs.keys[DEV].nwk_key == KEY.lower()
    assert _local(database) == ("done", False, 0)


def test_crash_between_the_two_writes_is_completed_by_retry(
    database: str, catalogue: dict[str, ModelSheet]
) -> None:
    """The registering process dies after ChirpStack created the device and before its keys:
    ICONE holds the device as `pending` (committed before the first ChirpStack write) and the
    retry finishes the job (the device exists there: updated, then keys created)."""
    import threading

    _site(database)
    with chirpstack_server() as (url, cs):
        cs.entered["DeviceService.CreateKeys"] = threading.Event()
        cs.hold["DeviceService.CreateKeys"] = threading.Event()

        async def work(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
            task = asyncio.create_task(service.register(conn, reg, _device(), actor="test"))
            while not cs.entered["DeviceService.CreateKeys"].is_set():
                await asyncio.sleep(0.01)
            task.cancel()  # the process stops here: no further write from it
            with pytest.raises(asyncio.CancelledError):
                await task

        _run(database, url, catalogue, work)
        assert DEV in cs.devices  # guard: the crash fell between the two writes
        assert DEV not in cs.keys
        assert _local(database) == ("pending", False, 1)
        cs.hold.pop("DeviceService.CreateKeys").set()
        done, failed = _retry(database, url, catalogue)
        assert ([d.provisioning for d in done], failed) == (["done"], [])
        assert [r.device.dev_eui for r in cs.requests("DeviceService.Update")] == [DEV]
        assert cs.keys[DEV].nwk_key == KEY.lower()
    assert _local(database) == ("done", False, 0)


def test_retire_disables_in_chirpstack(database: str, catalogue: dict[str, ModelSheet]) -> None:
    _site(database)
    with chirpstack_server() as (url, cs):
        row = _register(database, url, catalogue)

        async def work(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
            return await service.retire(conn, reg, DEV, expected_version=row.version, actor="test")

        retired = _run(database, url, catalogue, work)
        assert cs.devices[DEV].is_disabled is True
    assert (retired.status, retired.provisioning) == ("retired", "disabled")
    assert _audit(database) == ["create", "provision", "retire", "provision"]


def test_api_answers_for_chirpstack_errors(database: str, catalogue: dict[str, ModelSheet]) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from storage import apikeys

    _site(database)
    with psycopg.connect(database) as conn:
        admin = {"Authorization": f"Bearer {apikeys.create_key(conn, 'a', 'admin')}"}
    body = {"dev_eui": DEV, "model": MODEL, "site_id": "dc", "app_key": KEY}
    with chirpstack_server() as (url, cs):
        settings = ChirpStackSettings(
            url=url, api_token=TOKEN, tenant_id=TENANT, application_id=APPLICATION
        )
        with TestClient(
            create_app(database, chirpstack=settings, catalogue=catalogue, appkey_cipher=CIPHER)
        ) as http:
            cs.fail("DeviceService.CreateKeys", grpc.StatusCode.INVALID_ARGUMENT, "invalid nwk_key")
            refused = http.post("/devices", json=body, headers=admin)
            assert refused.status_code == 422
            assert [(e["location"], e["name"]) for e in refused.json()["errors"]] == [
                ("body", "app_key")
            ]

            cs.fail("DeviceService.Create", grpc.StatusCode.UNAVAILABLE, "connection reset")
            unavailable = http.post("/devices", json=body, headers=admin)
            assert unavailable.status_code == 503
            assert "saved in ICONE but not yet in ChirpStack" in unavailable.json()["detail"]
            pending = http.get(f"/devices/{DEV}", headers=admin).json()
            assert pending["provisioning"] == "pending"
            assert "UNAVAILABLE" in pending["provisioning_error"]
            retried = http.post(f"/devices/{DEV}/provision", headers=admin)
            assert retried.status_code == 200
            assert retried.json()["provisioning"] == "done"

            cs.devices["a84041000181c2d9"] = cs.devices[DEV]  # someone else's device
            taken = http.post(
                "/devices", json={**body, "dev_eui": "a84041000181c2d9"}, headers=admin
            )
            assert taken.status_code == 409
            assert "ChirpStack already has device a84041000181c2d9" in taken.json()["detail"]
            assert http.get("/devices/a84041000181c2d9", headers=admin).status_code == 404
