"""A ChirpStack event with a wrong-typed or malformed field: its usable parts are stored and a
`validate` dead letter records what was not usable (naming the stored uplink), counted in
the metrics. Nothing silently normalised; nothing raised."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Processor
from hardware.chirpstack_events import topic_for
from storage.records import Batch, InboundMessage
from tests.bridge import fixtures
from tests.system.helpers import bridge_config

NOW = datetime(2026, 3, 14, 9, 27, tzinfo=UTC)


def _run(event_type: str, doc: dict[str, Any]) -> tuple[Batch, BridgeMetrics]:
    metrics = BridgeMetrics()
    config = bridge_config("mqtt://u:p@127.0.0.1:1")
    processor = Processor(config, {fixtures.DEV_EUI: fixtures.MODEL}.get, metrics)
    topic = topic_for(fixtures.DEV_EUI, event_type)
    return processor(InboundMessage(topic, json.dumps(doc).encode(), NOW)), metrics


def _rx(**changes: object) -> list[dict[str, Any]]:
    rx = fixtures.up()["rxInfo"]
    rx[0].update(changes)
    return list(rx)


# (what is wrong, the event, the field named, the metric label)
UPLINK_CASES = [
    ("fCnt not a number", {"fCnt": "abc"}, "fCnt", "fCnt"),
    ("rssi not a number", {"rxInfo": _rx(rssi="strong")}, "rxInfo[0].rssi", "rxInfo.rssi"),
    ("snr not a number", {"rxInfo": _rx(snr="loud")}, "rxInfo[0].snr", "rxInfo.snr"),
    ("nsTime not a time", {"rxInfo": _rx(nsTime="later")}, "rxInfo[0].nsTime", "rxInfo.nsTime"),
    ("time not a time", {"time": "yesterday"}, "time", "time"),
    ("rxInfo an object", {"rxInfo": {"rssi": -80}}, "rxInfo", "rxInfo"),
    ("rxInfo entry a string", {"rxInfo": ["gw"]}, "rxInfo", "rxInfo"),
    ("confirmed not a boolean", {"confirmed": "yes"}, "confirmed", "confirmed"),
    ("dr out of range", {"dr": 99}, "dr", "dr"),
    ("txInfo a list", {"txInfo": [1]}, "txInfo", "txInfo"),
    ("object a string", {"object": "{}"}, "object", "object"),
]


@pytest.mark.parametrize(
    ("doc_changes", "field", "label"),
    [case[1:] for case in UPLINK_CASES],
    ids=[case[0] for case in UPLINK_CASES],
)
def test_wrong_uplink_field_is_stored_without_it_and_recorded(
    doc_changes: dict[str, Any], field: str, label: str
) -> None:
    doc = fixtures.up()
    doc.update(doc_changes)
    batch, metrics = _run("up", doc)
    (uplink,) = batch.uplinks  # the usable parts are stored
    assert batch.measurements, "the payload still decodes"
    (letter,) = batch.dead_letters
    assert letter.stage == "validate"
    assert f"{field}:" in letter.reason
    assert (letter.dev_eui, letter.deduplication_id) == (uplink.dev_eui, uplink.deduplication_id)
    assert metrics.dead_letters.labels("validate")._value.get() == 1
    assert metrics.invalid_fields.labels("up", label)._value.get() == 1


NETWORK_CASES = [
    ("ack", {"acknowledged": "yes"}, "acknowledged"),
    ("ack", {"fCntDown": "twelve"}, "fCntDown"),
    ("status", {"batteryLevel": "high"}, "batteryLevel"),
    ("status", {"batteryLevel": 250}, "batteryLevel"),
    ("status", {"margin": [1]}, "margin"),
    ("log", {"context": ["not", "an", "object"]}, "context"),
    ("log", {"level": ["ERROR"]}, "level"),
    ("join", {"devAddr": 42}, "devAddr"),
    ("location", {"location": "here"}, "location"),
]


@pytest.mark.parametrize(("event_type", "doc_changes", "field"), NETWORK_CASES)
def test_wrong_network_event_field_is_recorded(
    event_type: str, doc_changes: dict[str, Any], field: str
) -> None:
    doc = fixtures.others()[event_type]
    doc.update(doc_changes)
    batch, metrics = _run(event_type, doc)
    (event,) = batch.network_events
    assert field not in json.loads(event.data), "an unusable value is not stored as if valid"
    (letter,) = batch.dead_letters
    assert (letter.stage, letter.dev_eui) == ("validate", fixtures.DEV_EUI)
    assert f"{field}:" in letter.reason
    assert metrics.invalid_fields.labels(event_type, field)._value.get() == 1
    if field == "batteryLevel":
        assert batch.measurements == []  # no battery figure from an unusable value


def test_well_formed_events_leave_no_trace() -> None:
    batch, metrics = _run("up", fixtures.up())
    assert batch.dead_letters == []
    for event_type, doc in fixtures.others().items():
        batch, _ = _run(event_type, doc)
        assert batch.dead_letters == [], event_type
    assert metrics.dead_letters.labels("validate")._value.get() == 0
