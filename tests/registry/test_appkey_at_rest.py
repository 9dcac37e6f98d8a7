"""AppKeys at rest: sealed with ICONE_REGISTRY__SECRET_KEY (AES-256-GCM) while ChirpStack does
not hold them, never stored without that key, never in a log line, answer or audit row; and
migration 0011 seals the clear AppKeys of an older database or refuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import psycopg
import pytest
from psycopg import AsyncConnection, sql
from pydantic import ValidationError

import storage.migrate as migrate_module
from hardware.catalogue import ModelSheet, load_catalogue
from registry import service
from registry.chirpstack import Provisioner
from registry.errors import AppKeyNotKept, InvalidInput, ProvisioningPending
from registry.models import DeviceCreate
from registry.settings import ChirpStackSettings, RegistrySettings
from storage.appkey_cipher import AppKeyCipher, AppKeyCipherError, Sealed, generate_key, parse_key
from storage.devices import rekey_app_keys
from storage.errors import MigrationError
from storage.registry import SiteSpec, upsert_sites
from tests.registry.chirpstack_fake import APPLICATION, TENANT, TOKEN, State, chirpstack_server

DEV = "a84041000181c2d7"
DEV2 = "a84041000181c2d8"
KEY = "2b7e151628aed2a6abf7158809cf4f3c"
MODEL = "milesight-em300-th"  # LoRaWAN 1.0.2: the AppKey goes in nwk_key

Work = Callable[[AsyncConnection[Any], service.Registry], Awaitable[Any]]


@pytest.fixture(scope="module")
def catalogue() -> dict[str, ModelSheet]:
    return load_catalogue()


@pytest.fixture
def chirpstack() -> Iterator[tuple[ChirpStackSettings, State]]:
    with chirpstack_server() as (url, state):
        yield (
            ChirpStackSettings(
                url=url, api_token=TOKEN, tenant_id=TENANT, application_id=APPLICATION
            ),
            state,
        )


_RAW: dict[str, bytes] = {}  # key id -> key, so that a test can list a key as an old one


def _cipher() -> AppKeyCipher:
    raw = parse_key(generate_key())
    made = AppKeyCipher(raw)
    _RAW[made.current_id] = raw
    return made


def _device(dev_eui: str = DEV, app_key: str | None = KEY.upper()) -> DeviceCreate:
    return DeviceCreate.model_validate(
        {"dev_eui": dev_eui, "model": MODEL, "site_id": "dc", "app_key": app_key}
    )


def _run(
    database: str,
    catalogue: dict[str, ModelSheet],
    cipher: AppKeyCipher | None,
    work: Work,
    chirpstack: ChirpStackSettings | None = None,
) -> Any:
    with psycopg.connect(database) as conn:
        upsert_sites(conn, [SiteSpec("dc", "Datacenter", "datacenter")])

    async def main() -> Any:
        async with await AsyncConnection.connect(database) as conn:
            if chirpstack is None:
                return await work(
                    conn, service.Registry(catalogue, ChirpStackSettings(), None, cipher)
                )
            async with Provisioner.connect(chirpstack) as provisioner:
                reg = service.Registry(catalogue, chirpstack, provisioner, cipher)
                return await work(conn, reg)

    return asyncio.run(main())


def _register(*devices: DeviceCreate) -> Work:
    async def work(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
        return [await service.register(conn, reg, d, actor="test") for d in devices]

    return work


async def _retry(conn: AsyncConnection[Any], reg: service.Registry) -> Any:
    return await service.retry_pending(conn, reg, actor="test")


def _stored(database: str) -> dict[str, tuple[str, bytes]]:
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT dev_eui, key_id, ciphertext FROM device_keys").fetchall()
    return {r[0]: (r[1], bytes(r[2])) for r in rows}


def _state(database: str, dev_eui: str = DEV) -> tuple[Any, ...] | None:
    with psycopg.connect(database) as conn:
        return conn.execute(
            "SELECT provisioning, provisioning_error FROM devices WHERE dev_eui = %s", (dev_eui,)
        ).fetchone()


def _everything_visible(database: str) -> str:
    """Every table's rows as text (the audit log included), lower-case."""
    with psycopg.connect(database) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        query = sql.SQL("SELECT coalesce(string_agg(t::text, '|'), '') FROM {} t")
        texts = [str(conn.execute(query.format(sql.Identifier(t))).fetchone()) for (t,) in tables]
    return " ".join(texts).lower()


def test_stored_bytes_are_not_the_key_and_differ_per_device(
    database: str, catalogue: dict[str, ModelSheet]
) -> None:
    cipher = _cipher()
    _run(database, catalogue, cipher, _register(_device(DEV), _device(DEV2)))
    stored = _stored(database)
    assert set(stored) == {DEV, DEV2}
    (id1, box1), (id2, box2) = stored[DEV], stored[DEV2]
    assert id1 == id2 == cipher.current_id
    assert box1 != box2  # same key, two devices: random nonce and the DevEUI bound in
    for box in (box1, box2):
        assert bytes.fromhex(KEY) not in box
        assert KEY.encode() not in box.lower()
    assert KEY not in _everything_visible(database)  # bytea shows as hex: not there either
    assert cipher.open(DEV, Sealed(id1, box1)) == KEY
    with pytest.raises(AppKeyCipherError, match=f"device {DEV2} does not decrypt"):
        cipher.open(DEV2, Sealed(id1, box1))  # a row copied to another device is refused


def test_pending_device_is_completed_by_retry_with_the_right_key(
    database: str,
    catalogue: dict[str, ModelSheet],
    chirpstack: tuple[ChirpStackSettings, State],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, cs = chirpstack
    cipher = _cipher()
    cs.fail("DeviceService.Create", grpc.StatusCode.UNAVAILABLE, "connection refused")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProvisioningPending):
        _run(database, catalogue, cipher, _register(_device()), settings)
    assert list(_stored(database)) == [DEV]
    done, failed = _run(database, catalogue, cipher, _retry, settings)
    assert ([d.provisioning for d in done], failed) == (["done"], [])
    assert cs.keys[DEV].dev_eui == DEV
    assert cs.keys[DEV].nwk_key == KEY
    assert cs.keys[DEV].app_key == ""  # LoRaWAN 1.0.x
    assert _stored(database) == {}  # ChirpStack holds it: our copy is gone
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records).lower()
    assert "pending" in logged  # guard: the pending warning was captured
    assert KEY not in logged
    assert KEY not in _everything_visible(database)


def test_without_a_secret_key_no_app_key_is_stored(
    database: str, catalogue: dict[str, ModelSheet], chirpstack: tuple[ChirpStackSettings, State]
) -> None:
    settings, cs = chirpstack
    # ChirpStack off: the key would be kept indefinitely -> 422 on app_key, nothing written
    with pytest.raises(InvalidInput) as refused:
        _run(database, catalogue, None, _register(_device()))
    [problem] = refused.value.problems
    assert problem.loc == ("app_key",)
    assert "ICONE_REGISTRY__SECRET_KEY" in problem.msg
    assert "ICONE_CHIRPSTACK__URL" in problem.msg
    assert _state(database) is None
    # without app_key, as before
    [row] = _run(database, catalogue, None, _register(_device(app_key=None)))
    assert row.provisioning == "off"
    # ChirpStack on and answering: the key goes straight there, never to the database
    [row] = _run(database, catalogue, None, _register(_device(DEV2)), settings)
    assert row.provisioning == "done"
    assert cs.keys[DEV2].nwk_key == KEY
    # ChirpStack unavailable: the registration is undone (audited) and the caller told why
    cs.fail("DeviceService.Create", grpc.StatusCode.UNAVAILABLE, "connection refused")
    third = "a84041000181c2d9"
    with pytest.raises(AppKeyNotKept, match=r"device was not registered.*SECRET_KEY"):
        _run(database, catalogue, None, _register(_device(third)), settings)
    assert _state(database, third) is None
    assert _stored(database) == {}
    with psycopg.connect(database) as conn:
        actions = conn.execute(
            "SELECT action FROM audit_log WHERE entity_id = %s ORDER BY id", (third,)
        ).fetchall()
    assert [a for (a,) in actions] == ["create", "delete"]


def test_a_wrong_key_is_a_clear_error_and_an_old_key_still_reads(
    database: str, catalogue: dict[str, ModelSheet], chirpstack: tuple[ChirpStackSettings, State]
) -> None:
    settings, cs = chirpstack
    first, second = _cipher(), _cipher()
    cs.fail("DeviceService.Create", grpc.StatusCode.UNAVAILABLE, "connection refused")
    with pytest.raises(ProvisioningPending):
        _run(database, catalogue, first, _register(_device()), settings)
    done, failed = _run(database, catalogue, second, _retry, settings)
    assert done == []
    [(dev_eui, why)] = failed
    assert dev_eui == DEV
    assert f"key id {first.current_id}, which is not configured" in why
    assert "ICONE_REGISTRY__OLD_SECRET_KEYS" in why
    state = _state(database)
    assert state is not None
    assert state[0] == "pending"
    assert first.current_id in state[1]
    assert DEV not in cs.keys
    # rotation: the new key current, the old one listed -> rekey, then the new key alone reads
    new_raw = parse_key(generate_key())
    rotated = AppKeyCipher(new_raw, (_RAW[first.current_id],))
    assert rotated.current_id != first.current_id

    async def rekey(conn: AsyncConnection[Any], reg: service.Registry) -> int:
        count = await rekey_app_keys(conn, rotated, actor="test")
        await conn.commit()
        return count

    assert _run(database, catalogue, rotated, rekey) == 1
    assert _stored(database)[DEV][0] == rotated.current_id
    done, failed = _run(database, catalogue, AppKeyCipher(new_raw), _retry, settings)
    assert ([d.dev_eui for d in done], failed) == ([DEV], [])
    assert cs.keys[DEV].nwk_key == KEY


def test_settings_refuse_a_malformed_key_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        RegistrySettings.model_validate({"secret_key": "not-a-key-but-a-secret"})
    assert "32 bytes in URL-safe base64" in str(caught.value)
    assert "not-a-key-but-a-secret" not in str(caught.value.errors(include_input=False))
    assert RegistrySettings().cipher() is None
    good = generate_key()
    assert RegistrySettings.model_validate({"secret_key": good}).cipher() is not None
    assert good not in repr(RegistrySettings.model_validate({"secret_key": good}))


def _migrate_to_before_0011(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    every = migrate_module.discover()
    with monkeypatch.context() as m:
        m.setattr(migrate_module, "discover", lambda: [x for x in every if x.version < 11])
        migrate_module.migrate(url)


def test_migration_0011_seals_clear_keys_or_refuses(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _migrate_to_before_0011(empty_database, monkeypatch)
    with psycopg.connect(empty_database) as conn:
        conn.execute(
            "INSERT INTO devices (dev_eui, model) VALUES (%s, %s), (%s, %s)",
            (DEV, MODEL, DEV2, MODEL),
        )
        conn.execute(
            "INSERT INTO device_keys (dev_eui, app_key) VALUES (%s, %s), (%s, %s)",
            (DEV, KEY, DEV2, KEY),
        )
    with pytest.raises(MigrationError, match=r"2 AppKey.*in clear.*ICONE_REGISTRY__SECRET_KEY"):
        migrate_module.migrate(empty_database)
    with psycopg.connect(empty_database) as conn:  # refused whole: still the old shape
        assert conn.execute("SELECT count(*) FROM icone_schema WHERE version = 11").fetchone() == (
            0,
        )
        assert conn.execute("SELECT count(app_key) FROM device_keys").fetchone() == (2,)
    cipher = _cipher()
    report = migrate_module.migrate(empty_database, appkey_cipher=cipher)
    assert 11 in report.applied
    stored = _stored(empty_database)
    assert {d: cipher.open(d, Sealed(*v)) for d, v in stored.items()} == {DEV: KEY, DEV2: KEY}
    assert stored[DEV][1] != stored[DEV2][1]
    assert KEY not in _everything_visible(empty_database)


def test_migration_0011_on_an_empty_key_table_needs_no_key(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _migrate_to_before_0011(empty_database, monkeypatch)
    assert 11 in migrate_module.migrate(empty_database).applied
    with psycopg.connect(empty_database) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'device_keys' ORDER BY column_name"
        ).fetchall()
    assert [c for (c,) in columns] == ["ciphertext", "dev_eui", "key_id"]


def test_api_answers_503_when_chirpstack_cannot_take_a_key_icone_cannot_keep(
    database: str, catalogue: dict[str, ModelSheet], chirpstack: tuple[ChirpStackSettings, State]
) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from storage import apikeys

    settings, cs = chirpstack
    with psycopg.connect(database) as conn:
        upsert_sites(conn, [SiteSpec("dc", "Datacenter", "datacenter")])
        admin = {"Authorization": f"Bearer {apikeys.create_key(conn, 'a', 'admin')}"}
    body = {"dev_eui": DEV, "model": MODEL, "site_id": "dc", "app_key": KEY}
    with TestClient(create_app(database, chirpstack=settings, catalogue=catalogue)) as http:
        cs.fail("DeviceService.Create", grpc.StatusCode.UNAVAILABLE, "connection reset")
        answer = http.post("/devices", json=body, headers=admin)
        assert answer.status_code == 503
        assert "ICONE_REGISTRY__SECRET_KEY" in answer.json()["detail"]
        assert "not registered" in answer.json()["detail"]
        assert KEY not in answer.text.lower()
        assert http.get(f"/devices/{DEV}", headers=admin).status_code == 404
        again = http.post("/devices", json=body, headers=admin)  # ChirpStack answers now
        assert again.status_code == 201
        assert again.json()["provisioning"] == "done"
    assert cs.keys[DEV].nwk_key == KEY
    assert _stored(database) == {}
