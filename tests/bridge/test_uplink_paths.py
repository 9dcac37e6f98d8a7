"""The typed `up` parser (msgspec) and the lenient one (any JSON document) agree on every input.

`parse_event` tries the typed path first and falls back to the lenient one when a document
does not fit it; these tests hold the two to the same Uplink, or the same error, for ChirpStack's
real events and for every oddity the lenient path was written to accept or refuse.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from gateway_bridge import chirpstack
from gateway_bridge.chirpstack import Uplink, parse_event
from gateway_bridge.config import EventFormat
from gateway_bridge.errors import EventParseError
from hardware import simulator
from hardware.catalogue import load_catalogue
from hardware.chirpstack_events import topic_for
from hardware.fleet import build_fleet
from tests.bridge import fixtures

TOPIC = topic_for(fixtures.DEV_EUI)


def _lenient(payload: bytes) -> Uplink | str:
    try:
        return chirpstack._uplink(chirpstack._document("up", payload, EventFormat.JSON))
    except EventParseError as exc:
        return f"error: {exc}"


def _either(payload: bytes) -> Uplink | str:
    try:
        event = parse_event(TOPIC, payload, EventFormat.JSON)
    except EventParseError as exc:
        return f"error: {exc}"
    assert isinstance(event, Uplink)
    return event


def test_every_model_of_the_fleet_takes_the_typed_path_with_the_same_result() -> None:
    start = simulator.datetime.now(simulator.UTC) - timedelta(days=1)
    fleet = build_fleet(load_catalogue(), 120, start=start)
    events = simulator.events(fleet, start, timedelta(seconds=1), protobuf=False)
    models = set()
    for _topic, payload in itertools.islice(events, 600):
        typed = chirpstack._typed_uplink(payload)
        assert typed is not None, payload[:200]  # else the fast path is dead for this model
        assert typed == _lenient(payload)
        models.add(typed.tags.get("icone_model"))
    assert len(models) >= 12


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, key = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[key]
        else:
            node[key] = value

    return change


_DELETE = object()

VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "fPort absent (0: MAC only)": _set("fPort", _DELETE),
    "fPort null": _set("fPort", None),
    "fPort as a string": _set("fPort", "85"),
    "fPort out of range": _set("fPort", 300),
    "fCnt as a string (pbjson)": _set("fCnt", "123"),
    "fCnt negative": _set("fCnt", -1),
    "snr absent (0 dB)": _set("rxInfo.0.snr", _DELETE),
    "snr null": _set("rxInfo.0.snr", None),
    "snr a boolean": _set("rxInfo.0.snr", True),
    "rssi a float": _set("rxInfo.0.rssi", -95.0),
    "rssi a string": _set("rxInfo.0.rssi", "-95"),
    "rssi out of range": _set("rxInfo.0.rssi", 300),
    "gatewayId a number": _set("rxInfo.0.gatewayId", 12),
    "nsTime naive": _set("rxInfo.0.nsTime", "2026-03-14T09:26:53"),
    "rxInfo entry not an object": lambda d: d["rxInfo"].append("x"),
    "rxInfo null": _set("rxInfo", None),
    "rxInfo absent": _set("rxInfo", _DELETE),
    "data URL-safe base64": _set("data", "-_8="),
    "data unpadded": _set("data", "AXVOA2f4AARogg"),
    "data null": _set("data", None),
    "data not base64": _set("data", "!!!"),
    "time naive": _set("time", "2026-03-14T09:26:53"),
    "time a number": _set("time", 12),
    "time absent": _set("time", _DELETE),
    "deviceInfo absent": _set("deviceInfo", _DELETE),
    "devEui in capitals": _set("deviceInfo.devEui", fixtures.DEV_EUI.upper()),
    "devEui not hexadecimal": _set("deviceInfo.devEui", "zz" * 8),
    "tags with a number": _set("deviceInfo.tags", {"floor": 3}),
    "tags null": _set("deviceInfo.tags", None),
    "profile name a number": _set("deviceInfo.deviceProfileName", 7),
    "object a list": _set("object", [1, 2]),
    "object a document": _set("object", {"temperature": 21.5, "nested": {"a": [1, None]}}),
    "confirmed a string": _set("confirmed", "yes"),
    "deduplicationId absent": _set("deduplicationId", _DELETE),
    "deduplicationId not a UUID": _set("deduplicationId", "not-a-uuid"),
    "deduplicationId without hyphens": _set("deduplicationId", "6f03675a1600435a899950d836f675cc"),
    "txInfo null": _set("txInfo", None),
    "frequency a string": _set("txInfo.frequency", "867100000"),
    "spreading factor out of range": _set("txInfo.modulation.lora.spreadingFactor", 13),
    "dr a float": _set("dr", 5.0),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_odd_documents_parse_as_the_lenient_path_says(name: str) -> None:
    doc = copy.deepcopy(fixtures.up())
    VARIANTS[name](doc)
    payload = json.dumps(doc).encode()
    assert _either(payload) == _lenient(payload)


@pytest.mark.parametrize(
    "payload",
    [
        # JSON only the lenient path reads (json accepts NaN), and bytes that are not UTF-8
        json.dumps(fixtures.up()).replace('"fCnt": 1', '"fCnt": 1, "x": NaN').encode(),
        json.dumps(fixtures.up()).encode().replace(b"Tours M", b"Tours \xff"),
        b'{"deduplicationId": "6f03675a-1600-435a-8999-50d836f675cc"',  # truncated
    ],
    ids=["NaN", "invalid UTF-8", "truncated"],
)
def test_payloads_the_typed_decoder_refuses_fall_back(payload: bytes) -> None:
    assert chirpstack._typed_uplink(payload) is None
    assert _either(payload) == _lenient(payload)
