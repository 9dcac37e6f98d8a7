"""An uplink through the real broker into the real database, and out of the API."""

from __future__ import annotations

import json
import logging
import random

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from hardware.chirpstack_events import encode_event, topic_for, uplink_event
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState
from icone.embedded import RunningService
from storage import apikeys
from storage.registry import DeviceSpec, SiteSpec, upsert_devices, upsert_sites
from tests.system.helpers import bridge, bridge_config, count, now, publish, publisher, wait_for

DEV_EUI = "a84041000181c2d7"
MODEL = "milesight-em300-th"


def _register(database: str, dev_eui: str = DEV_EUI, site: str = "datacenter-metropole") -> None:
    with psycopg.connect(database) as conn:
        upsert_sites(
            conn,
            [
                SiteSpec(site, "Datacenter", "datacenter"),
                SiteSpec("ecole-rabelais", "École", "school"),
            ],
        )
        upsert_devices(conn, [DeviceSpec(dev_eui, MODEL, "rack B4 inlet", site)])


def _uplink(dev_eui: str = DEV_EUI, temperature: float = 23.4) -> tuple[str, bytes, str]:
    state = PhysicalState(
        time=now(), temperature=temperature, relative_humidity=41.5, battery_level=87
    )
    f_port, payload = ENCODERS[MODEL].encode(state)
    event = uplink_event(
        dev_eui=dev_eui,
        model=MODEL,
        f_port=f_port,
        payload=payload,
        time=state.time,
        f_cnt=17,
        rng=random.Random(1),
    )
    event["deviceInfo"]["tags"] = {}  # the model must come from our registry
    return topic_for(dev_eui), encode_event(event, protobuf=False), event["deduplicationId"]


def test_uplink_reaches_database_and_api(broker: RunningService, database: str) -> None:
    _register(database)
    topic, payload, dedup = _uplink()
    client = publisher(broker.url)
    with bridge(bridge_config(broker.url), database):
        publish(client, topic, payload)
        wait_for(
            lambda: count(database, "SELECT count(*) FROM measurements") == 3, what="3 measurements"
        )
    client.disconnect()

    with psycopg.connect(database) as conn:
        uplink = conn.execute(
            "SELECT deduplication_id::text, decode_status, model, gateway_count, time_source "
            "FROM uplinks"
        ).fetchall()
        token = apikeys.create_key(conn, "test", "energy_manager", ["datacenter-metropole"])
    assert uplink == [(dedup, "ok", MODEL, uplink[0][3], "event")]

    with TestClient(create_app(database)) as http:
        headers = {"Authorization": f"Bearer {token}"}
        body = http.get(f"/devices/{DEV_EUI}/measurements", headers=headers).json()
        health = http.get("/health").json()
    values = {(m["metric"], m["value"], m["unit"]) for m in body["data"]}
    assert values == {
        ("temperature", 23.4, "°C"),
        ("relative_humidity", 41.5, "%"),
        ("battery_level", 87.0, "%"),
    }
    assert health["storage_mode"] in ("plain", "timescale")
    assert health["database"] == "ok"


def test_redelivered_uplink_is_stored_once(broker: RunningService, database: str) -> None:
    _register(database)
    topic, payload, _ = _uplink()
    client = publisher(broker.url)
    with bridge(bridge_config(broker.url), database) as running:
        for _ in range(3):
            publish(client, topic, payload)
        wait_for(lambda: sum(running.stats.received.values()) == 3, what="3 deliveries")
        wait_for(lambda: running.stats.durable_batches >= 1, what="a stored batch")
    client.disconnect()
    assert count(database, "SELECT count(*) FROM uplinks") == 1
    assert count(database, "SELECT count(*) FROM measurements") == 3


def test_bad_input_is_dead_lettered_and_bridge_goes_on(
    broker: RunningService, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    _register(database)
    unknown_topic, unknown_payload, _ = _uplink(dev_eui="00000000000000aa")
    good_topic, good_payload, _ = _uplink()
    junk_topic = topic_for(DEV_EUI)
    client = publisher(broker.url)
    caplog.set_level(logging.WARNING)
    with bridge(bridge_config(broker.url), database):
        publish(client, junk_topic, b"\xff\x00 not json")
        publish(client, unknown_topic, unknown_payload)
        publish(client, junk_topic, b'{"deduplicationId": "nope"}')
        publish(client, good_topic, good_payload)
        wait_for(
            lambda: count(database, "SELECT count(*) FROM measurements") == 3,
            what="the valid uplink after bad ones",
        )
    client.disconnect()
    with psycopg.connect(database) as conn:
        letters = conn.execute(
            "SELECT stage, topic, reason, payload FROM dead_letters ORDER BY id"
        ).fetchall()
    stages = [(stage, topic) for stage, topic, _, _ in letters]
    assert ("parse", junk_topic) in stages
    assert ("decode", unknown_topic) in stages
    assert any("not registered" in reason for _, _, reason, _ in letters)
    assert any(bytes(raw) == b"\xff\x00 not json" for *_, raw in letters)
    # the raw uplink of the unknown device is kept, not dropped
    assert count(database, "SELECT count(*) FROM uplinks WHERE dev_eui = '00000000000000aa'") == 1
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'topic', '')}" for r in caplog.records)
    assert junk_topic in logged
    assert "not parsed" in logged


def test_protobuf_and_json_give_the_same_rows(broker: RunningService, database: str) -> None:
    from gateway_bridge.chirpstack import parse_event
    from gateway_bridge.config import EventFormat

    topic, payload, _ = _uplink()
    event = json.loads(payload)
    proto = encode_event(event, protobuf=True)
    assert parse_event(topic, payload, EventFormat.JSON) == parse_event(
        topic, proto, EventFormat.PROTOBUF
    )


def test_registry_lookup_keeps_the_last_registry_while_the_database_is_down(
    database: str,
) -> None:
    from psycopg_pool import ConnectionPool

    from storage.registry import DeviceModels

    _register(database)
    pool: ConnectionPool = ConnectionPool(database, min_size=1, timeout=2, open=True)
    models = DeviceModels(pool, ttl_s=0)
    assert models.lookup(DEV_EUI) == MODEL
    pool.close()  # every refresh now fails with an OperationalError
    assert models.lookup(DEV_EUI) == MODEL  # stale but right, not an exception
    assert models.lookup("00000000000000aa") is None

    never_loaded = DeviceModels(pool)
    with pytest.raises(psycopg.OperationalError):
        never_loaded.lookup(DEV_EUI)
