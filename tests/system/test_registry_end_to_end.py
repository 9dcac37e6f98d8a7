"""A technician's day, end to end through the real broker, bridge and database: register a
device over the API, its join and first uplink arrive, the technician view shows them; a
device heard before it was registered is listed, registered, and its stored uplink decoded."""

from __future__ import annotations

import random
import time

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from hardware.chirpstack_events import encode_event, join_event, topic_for, uplink_event
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState
from icone.embedded import RunningService
from storage import apikeys
from storage.appkey_cipher import AppKeyCipher
from tests.system.helpers import bridge, bridge_config, count, now, publish, publisher, wait_for

DEV = "a84041000181c2d7"
HEARD = "a84041000181c2ff"  # talks before anyone registered it
MODEL = "milesight-em300-th"


def _uplink(dev_eui: str, temperature: float) -> tuple[str, bytes]:
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
        f_cnt=1,
        rng=random.Random(7),
    )
    event["deviceInfo"]["tags"] = {}  # the model must come from our registry
    # one gateway, figures chosen for a hand-computed verdict: SF7's floor is -7.5 dB, so
    # SNR 6.5 dB is a 14 dB margin (>= 10) and RSSI -85 dBm (>= -110): "good"
    event["rxInfo"] = [
        {**event["rxInfo"][0], "gatewayId": "0016c001ff1a2b00", "rssi": -85, "snr": 6.5}
    ]
    return topic_for(dev_eui), encode_event(event, protobuf=False)


def _join(dev_eui: str) -> tuple[str, bytes]:
    event = join_event(dev_eui=dev_eui, model=MODEL, time=now(), rng=random.Random(8))
    event["deviceInfo"]["tags"] = {}  # the model must come from our registry
    return topic_for(dev_eui, "join"), encode_event(event, False, "join")


def test_register_join_uplink_and_heard_device(
    broker: RunningService, database: str, appkey_cipher: AppKeyCipher
) -> None:
    with psycopg.connect(database) as conn:
        admin = {"Authorization": f"Bearer {apikeys.create_key(conn, 'admin', 'admin')}"}
    client = publisher(broker.url)
    with (
        bridge(bridge_config(broker.url), database),
        TestClient(create_app(database, appkey_cipher=appkey_cipher)) as http,
    ):
        # heard before registration: stored as an unknown device and dead-lettered
        publish(client, *_uplink(HEARD, 19.0))
        wait_for(
            lambda: count(database, "SELECT count(*) FROM dead_letters") == 1,
            what="the unknown device's dead letter",
        )
        heard = http.get("/unregistered", headers=admin).json()["data"]
        assert [(h["dev_eui"], h["uplinks"], h["dead_letters"]) for h in heard] == [(HEARD, 1, 1)]
        assert "not registered" in heard[0]["last_reason"]

        assert (
            http.post(
                "/sites", json={"id": "dc", "name": "DC", "kind": "datacenter"}, headers=admin
            ).status_code
            == 201
        )
        tech = http.post(
            "/api-keys", json={"name": "t", "role": "technician", "site_ids": ["dc"]}, headers=admin
        ).json()["token"]
        technician = {"Authorization": f"Bearer {tech}"}
        created = http.post(
            "/devices",
            json={
                "dev_eui": DEV.upper(),
                "model": MODEL,
                "site_id": "dc",
                "role": "rack_inlet",
                "name": "rack B4 inlet",
                "app_key": "2B7E151628AED2A6ABF7158809CF4F3C",
            },
            headers=technician,
        )
        assert created.status_code == 201, created.text
        before = http.get(f"/devices/{DEV}/technician", headers=technician).json()
        assert (before["join_seen"], before["last_uplink"], before["link"]["verdict"]) == (
            None,
            None,
            "unknown",
        )
        assert "No join seen" in before["summary"]

        # The bridge reloads its registry for an unknown DevEUI at most once a second: past
        # that second, its next lookup sees the device (a device is powered after it is
        # registered; without the pause its uplink would be dead-lettered, then replayable).
        time.sleep(1.1)
        publish(client, *_join(DEV))
        publish(client, *_uplink(DEV, 23.4))
        wait_for(
            lambda: (
                count(database, "SELECT count(*) FROM measurements WHERE dev_eui = %s", (DEV,)) == 3
            ),
            what="the first uplink's measurements",
        )
        wait_for(
            lambda: count(database, "SELECT count(*) FROM network_events") == 1, what="the join"
        )
        view = http.get(f"/devices/{DEV}/technician", headers=technician).json()

        # register the heard device: its stored uplink is replayed and decoded
        registered = http.post(
            f"/unregistered/{HEARD}/register",
            json={"dev_eui": HEARD, "model": MODEL, "site_id": "dc"},
            headers=technician,
        )
        heard_after = http.get("/unregistered", headers=admin).json()["data"]
        measured = http.get(f"/devices/{HEARD}/measurements", headers=technician).json()
    client.disconnect()

    assert view["join_seen"] is not None
    assert view["first_uplink"] is not None
    assert view["first_uplink"] == view["last_uplink"]
    values = {(v["metric"], v["value"], v["unit"]) for v in view["last_values"]}
    assert values == {
        ("temperature", 23.4, "°C"),
        ("relative_humidity", 41.5, "%"),
        ("battery_level", 87.0, "%"),
    }
    assert view["battery"]["value"] == 87.0
    link = view["link"]
    assert (link["verdict"], link["rssi"], link["snr"], link["spreading_factor"]) == (
        "good",
        -85,
        6.5,
        7,
    )
    assert link["snr_margin"] == 14.0
    assert [(g["gateway_id"], g["uplinks"]) for g in link["gateways"]] == [("0016c001ff1a2b00", 1)]
    assert view["summary"] == "Working: the link is good."

    assert registered.status_code == 201, registered.text
    assert (registered.json()["replayed"], registered.json()["failed"]) == (1, 0)
    assert registered.json()["measurements"] == 3
    assert heard_after == []
    assert {(m["metric"], m["value"]) for m in measured["data"]} == {
        ("temperature", 19.0),
        ("relative_humidity", 41.5),
        ("battery_level", 87.0),
    }
