"""Bad input of every kind: a dead letter with topic, raw bytes and reason; never an exception."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime

import pytest

from gateway_bridge.chirpstack import parse_event
from gateway_bridge.config import BrokerAddress, EventFormat
from gateway_bridge.errors import EventParseError
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Processor
from hardware.chirpstack_events import encode_event, topic_for
from storage.records import Batch, InboundMessage
from tests.bridge import fixtures
from tests.system.helpers import bridge_config

NOW = datetime(2026, 3, 14, 9, 27, tzinfo=UTC)
UP = topic_for(fixtures.DEV_EUI)


def _processor(fmt: EventFormat = EventFormat.JSON) -> tuple[Processor, BridgeMetrics]:
    metrics = BridgeMetrics()
    config = bridge_config("mqtt://u:p@127.0.0.1:1", event_format=fmt)
    models = {fixtures.DEV_EUI: fixtures.MODEL}
    return Processor(config, models.get, metrics), metrics


def _json(**changes: object) -> bytes:
    doc = fixtures.up()
    doc.update(changes)
    return json.dumps(doc).encode()


BAD = {
    "invalid JSON": (UP, b'{"deduplicationId": '),
    "not UTF-8": (UP, b"{\xff\xfe}"),
    "JSON array": (UP, b"[1, 2, 3]"),
    "no deduplicationId": (UP, _json(deduplicationId=None)),
    "deduplicationId not a UUID": (UP, _json(deduplicationId="12345")),
    "devEui missing": (UP, _json(deviceInfo={})),
    "devEui not hex": (UP, _json(deviceInfo={"devEui": "zzzzzzzzzzzzzzzz"})),
    "data not base64": (UP, _json(data="@@@not base64@@@")),
    "data wrong type": (UP, _json(data=12345)),
    "oversized": (UP, b"{" + b" " * 300_000 + b"}"),
    "unknown event type": (topic_for(fixtures.DEV_EUI, "integration"), _json()),
    "fPort out of range": (UP, _json(fPort=70000)),
    "fPort wrong type": (UP, _json(fPort="eighty-five")),
    "protobuf garbage on a JSON bridge": (UP, b"\x0a\x03abc\xff\xff"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_message_becomes_a_dead_letter(case: str) -> None:
    topic, payload = BAD[case]
    processor, metrics = _processor()
    batch = processor(InboundMessage(topic, payload, NOW))
    assert batch.uplinks == []
    assert len(batch.dead_letters) == 1
    letter = batch.dead_letters[0]
    assert (letter.topic, letter.payload, letter.stage) == (topic, payload, "parse")
    assert letter.reason
    assert metrics.dead_letters.labels("parse")._value.get() == 1


def test_protobuf_garbage_on_a_protobuf_bridge() -> None:
    processor, _ = _processor(EventFormat.PROTOBUF)
    batch = processor(InboundMessage(UP, b"\x0a\xff\xff\xff\xff\x0f", NOW))
    assert [d.stage for d in batch.dead_letters] == ["parse"]
    assert "protobuf" in batch.dead_letters[0].reason


def test_unknown_enums_are_tolerated_and_unusable_values_recorded() -> None:
    processor, _ = _processor()
    # unknown enum values and extra keys come from newer ChirpStack versions: keep the event
    doc = fixtures.others()["log"]
    doc.update(level="CATASTROPHIC", code="SOMETHING_NEW", newField={"x": 1})
    batch = processor(
        InboundMessage(topic_for(fixtures.DEV_EUI, "log"), json.dumps(doc).encode(), NOW)
    )
    assert batch.dead_letters == []
    assert batch.network_events[0].level == "CATASTROPHIC"
    # fCnt given as a string (pbjson sends numbers as strings): an uplink, nothing to record
    batch = processor(InboundMessage(UP, _json(fCnt="42"), NOW))
    assert batch.dead_letters == []
    assert batch.uplinks[0].f_cnt == 42
    # an rxInfo that is not a list: stored without gateways, and recorded
    batch = processor(InboundMessage(UP, _json(rxInfo="nonsense"), NOW))
    assert batch.uplinks[0].gateway_count == 0
    assert [d.stage for d in batch.dead_letters] == ["validate"]
    assert "rxInfo" in batch.dead_letters[0].reason
    # values outside their column's range are not sent to the database, and recorded
    batch = processor(InboundMessage(UP, _json(fCnt=2**70, dr=-3), NOW))
    assert (batch.uplinks[0].f_cnt, batch.uplinks[0].dr) == (None, None)
    assert [d.stage for d in batch.dead_letters] == ["validate"]
    assert "fCnt" in batch.dead_letters[0].reason
    assert "dr" in batch.dead_letters[0].reason


def test_unknown_device_keeps_the_raw_uplink() -> None:
    processor, _ = _processor()
    doc = fixtures.up()
    doc["deviceInfo"] = {**doc["deviceInfo"], "devEui": "0000000000000bad", "tags": {}}
    batch = processor(InboundMessage(UP, json.dumps(doc).encode(), NOW))
    assert [u.decode_status for u in batch.uplinks] == ["unknown_device"]
    assert [d.stage for d in batch.dead_letters] == ["decode"]
    assert "not registered" in batch.dead_letters[0].reason


def test_decoder_errors_keep_valid_values_and_dead_letter_the_frame() -> None:
    processor, _ = _processor()
    truncated = base64.b64encode(bytes.fromhex("01754E0367F8")).decode()
    batch = processor(InboundMessage(UP, _json(data=truncated), NOW))
    assert [m.metric for m in batch.measurements] == ["battery_level"]
    assert batch.uplinks[0].decode_status == "errors"
    assert "truncated" in batch.dead_letters[0].reason


def test_implausible_time_falls_back_and_is_flagged() -> None:
    processor, _ = _processor()
    for bad_time, expected_source in (
        ("1980-01-06T00:00:00+00:00", "ns_time"),
        ("2031-01-01T00:00:00+00:00", "ns_time"),
    ):
        doc = fixtures.up(time=bad_time)
        for rx in doc["rxInfo"]:
            rx["nsTime"] = "2026-03-14T09:26:54.000000+00:00"
        batch = processor(InboundMessage(UP, json.dumps(doc).encode(), NOW))
        assert batch.uplinks[0].time_source == expected_source
        assert batch.uplinks[0].time == datetime(2026, 3, 14, 9, 26, 54, tzinfo=UTC)
        assert batch.measurements[0].time == batch.uplinks[0].time
    doc = fixtures.up(time="1980-01-06T00:00:00+00:00")
    for rx in doc["rxInfo"]:
        del rx["nsTime"]
    batch = processor(InboundMessage(UP, json.dumps(doc).encode(), NOW))
    assert (batch.uplinks[0].time_source, batch.uplinks[0].time) == ("received", NOW)


def _mutate(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        if op < 0.3 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op < 0.5 and data:
            del data[rng.randrange(len(data)) :]
        elif op < 0.7:
            pos = rng.randrange(len(data) + 1)
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif data:
            start = rng.randrange(len(data))
            del data[start : start + rng.randint(1, 32)]
    return bytes(data)


def _mutated_json(rng: random.Random) -> bytes:
    """Structure-aware mutations: keys dropped, values replaced with other types."""
    doc = fixtures.up(seed=rng.randrange(1 << 30))
    junk: list[object] = [None, 0, -1, 2**70, 1.5, "", "x" * 40, [], {}, True, "zz"]
    for _ in range(rng.randint(1, 4)):
        target: dict[str, object] = doc
        if rng.random() < 0.4:
            nested = [v for v in doc.values() if isinstance(v, dict)]
            if nested:
                target = rng.choice(nested)
        if target:
            key = rng.choice(list(target))
            if rng.random() < 0.3:
                del target[key]
            else:
                target[key] = rng.choice(junk)
    return json.dumps(doc).encode()


def test_100k_random_and_mutated_messages_never_raise() -> None:
    """A seeded fuzzer: byte-level mutations of JSON and protobuf events, structure-aware
    JSON mutations and random bytes. Every message yields rows or a dead letter."""
    rng = random.Random(20261128)
    processors = {fmt: _processor(fmt)[0] for fmt in EventFormat}
    seeds = (
        [json.dumps(fixtures.up()).encode()]
        + [
            encode_event(doc, protobuf, event_type)
            for event_type, doc in fixtures.others().items()
            for protobuf in (False, True)
        ]
        + [encode_event(fixtures.up(), True)]
    )
    topics = [
        topic_for(fixtures.DEV_EUI, t)
        for t in ("up", "join", "status", "log", "ack", "txack", "location", "bogus")
    ]
    outcomes = Batch()
    parse_errors = 0
    for i in range(100_000):
        kind = i % 3
        if kind == 0:
            payload = _mutate(rng, rng.choice(seeds))
        elif kind == 1:
            payload = _mutated_json(rng)
        else:
            payload = rng.randbytes(rng.randint(0, 64))
        fmt = EventFormat.JSON if i % 2 else EventFormat.PROTOBUF
        topic = rng.choice(topics)
        try:  # the parser itself raises nothing but EventParseError
            parse_event(topic, payload, fmt)
        except EventParseError:
            parse_errors += 1
        batch = processors[fmt](InboundMessage(topic, payload, NOW))
        assert batch.uplinks or batch.network_events or batch.dead_letters, payload
        outcomes.extend(Batch(uplinks=batch.uplinks[:1], dead_letters=batch.dead_letters[:1]))
    assert parse_errors > 10_000  # the fuzzer does reach the failure paths
    assert outcomes.dead_letters
    assert outcomes.uplinks  # and the success paths


def test_broker_url_password_is_not_in_repr() -> None:
    address = BrokerAddress.from_url("mqtts://bridge:s3cret@broker.example:8883")
    assert "s3cret" not in repr(address)
    assert "s3cret" not in str(address)


def test_mac_only_uplink_is_link_activity_not_decoded() -> None:
    processor, metrics = _processor()
    batch = processor(InboundMessage(UP, _json(fPort=0, data=""), NOW))
    assert [(u.f_port, u.decode_status, u.payload) for u in batch.uplinks] == [
        (0, "no_payload", b"")
    ]
    assert batch.measurements == []
    assert batch.dead_letters == []
    outcome = metrics.processed.labels("up", fixtures.MODEL, "no_payload")
    assert outcome._value.get() == 1
