"""Every ChirpStack event type, in JSON and in protobuf, parses to the same event and lands."""

from __future__ import annotations

import json

import psycopg
import pytest

from gateway_bridge.chirpstack import NetworkEvent, Uplink, parse_event
from gateway_bridge.config import EventFormat
from hardware.chirpstack_events import encode_event, topic_for
from icone.embedded import RunningService
from storage.registry import DeviceSpec, upsert_devices
from tests.bridge import fixtures
from tests.system.helpers import bridge, bridge_config, count, publish, publisher, wait_for

EVENT_TYPES = ["up", "join", "status", "log", "ack", "txack", "location"]


def _event(event_type: str) -> dict[str, object]:
    return fixtures.up() if event_type == "up" else fixtures.others()[event_type]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_json_and_protobuf_give_the_same_event(event_type: str) -> None:
    doc = _event(event_type)
    topic = topic_for(fixtures.DEV_EUI, event_type)
    from_json = parse_event(topic, json.dumps(doc).encode(), EventFormat.JSON)
    from_proto = parse_event(topic, encode_event(doc, True, event_type), EventFormat.PROTOBUF)
    if isinstance(from_json, Uplink):
        assert from_json == from_proto
        assert from_json.dev_eui == fixtures.DEV_EUI
        assert from_json.rssi is not None
    else:
        assert isinstance(from_json, NetworkEvent)
        assert isinstance(from_proto, NetworkEvent)
        # same identity, time and classification; protobuf JSON spells defaults differently
        assert (from_json.event_key, from_json.event_time, from_json.level, from_json.code) == (
            from_proto.event_key,
            from_proto.event_time,
            from_proto.level,
            from_proto.code,
        )


def test_timestamps_with_nine_fractional_digits_and_offsets() -> None:
    doc = fixtures.up(time="2026-03-14T09:26:53.589793238+00:00")
    event = parse_event(topic_for(fixtures.DEV_EUI), json.dumps(doc).encode(), EventFormat.JSON)
    assert isinstance(event, Uplink)
    assert event.event_time is not None
    assert event.event_time.isoformat() == "2026-03-14T09:26:53.589793+00:00"


def test_log_event_is_keyed_to_its_uplink() -> None:
    doc = fixtures.others()["log"]
    event = parse_event(
        topic_for(fixtures.DEV_EUI, "log"), json.dumps(doc).encode(), EventFormat.JSON
    )
    assert isinstance(event, NetworkEvent)
    assert event.event_key == "5d0f3b8e-2c41-4f7a-9b6e-8a1c2d3e4f50:UPLINK_CODEC"


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
def test_every_event_type_lands_through_the_broker(
    broker: RunningService, database: str, protobuf: bool
) -> None:
    with psycopg.connect(database) as conn:
        upsert_devices(conn, [DeviceSpec(fixtures.DEV_EUI, fixtures.MODEL)])
    config = bridge_config(
        broker.url, event_format=EventFormat.PROTOBUF if protobuf else EventFormat.JSON
    )
    client = publisher(broker.url)
    with bridge(config, database):
        for event_type in EVENT_TYPES:
            publish(
                client,
                topic_for(fixtures.DEV_EUI, event_type),
                encode_event(_event(event_type), protobuf, event_type),
            )
        wait_for(
            lambda: count(database, "SELECT count(*) FROM network_events") == 6,
            what="6 network events",
        )
        wait_for(lambda: count(database, "SELECT count(*) FROM uplinks") == 1, what="the uplink")
    client.disconnect()
    with psycopg.connect(database) as conn:
        types = {r[0] for r in conn.execute("SELECT event_type FROM network_events")}
        battery = conn.execute(
            "SELECT value FROM measurements WHERE metric = 'battery_level' AND channel = 'network'"
        ).fetchall()
        letters = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert types == set(EVENT_TYPES) - {"up"}
    assert battery == [(pytest.approx(83.85827),)]
    assert letters == (0,)


def test_prometheus_endpoint_counts_by_event_type_and_model(
    broker: RunningService, database: str
) -> None:
    import urllib.request

    from icone.embedded import free_port

    with psycopg.connect(database) as conn:
        upsert_devices(conn, [DeviceSpec(fixtures.DEV_EUI, fixtures.MODEL)])
    port = free_port()
    client = publisher(broker.url)
    with bridge(bridge_config(broker.url, metrics_port=port), database):
        publish(client, topic_for(fixtures.DEV_EUI), encode_event(fixtures.up(), False))
        publish(client, topic_for(fixtures.DEV_EUI), b"not json")
        publish(
            client,
            topic_for(fixtures.DEV_EUI, "join"),
            encode_event(fixtures.others()["join"], False, "join"),
        )
        wait_for(
            lambda: (
                count(database, "SELECT count(*) FROM dead_letters") == 1
                and count(database, "SELECT count(*) FROM network_events") == 1
            ),
            what="rows of the three messages",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    client.disconnect()
    assert 'icone_bridge_messages_received_total{event="up"} 2.0' in text
    assert 'icone_bridge_messages_received_total{event="join"} 1.0' in text
    assert (
        'icone_bridge_messages_processed_total{event="up",model="milesight-em300-th",'
        'outcome="decoded"} 1.0'
    ) in text
    assert 'icone_bridge_dead_letters_total{stage="parse"} 1.0' in text
    assert "icone_bridge_batch_messages_bucket" in text
    assert "icone_bridge_reconnects_total 0.0" in text
