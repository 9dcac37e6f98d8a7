"""5 % malformed messages mixed into a stream through the bridge process: every one lands
in dead letters with its topic, raw bytes, stage and reason; every good one is stored."""

from __future__ import annotations

import json
import uuid

import psycopg

from hardware.chirpstack_events import topic_for
from icone.embedded import RunningService
from tests.faults.conftest import BridgeFactory
from tests.faults.helpers import (
    Stream,
    count,
    fields,
    publish_and_wait,
    stored_dedup_ids,
    uplinks,
    wait_until,
)

GOOD = 3800
BAD_PER_KIND = 40  # five kinds: 200 bad messages, 5 % of 4,000
KINDS = ("invalid JSON", "wrong shape", "base64 error", "unknown device", "protobuf garbage")


def _bad(kind: str, i: int, topic: str, payload: bytes) -> tuple[str, bytes]:
    """The i-th malformed message of `kind`, made from a good one (each one distinct: dead
    letters are idempotent on topic and payload)."""
    doc = fields(payload)
    if kind == "invalid JSON":
        return topic, payload[: 40 + 7 * i]  # cut short
    if kind == "wrong shape":
        shape = i % 4
        if shape == 0:
            return topic, json.dumps([doc["deduplicationId"], doc["fCnt"]]).encode()
        if shape == 1:
            doc["deduplicationId"] = f"not-a-uuid-{i}"
        elif shape == 2:
            doc["deviceInfo"] = {"deviceName": f"no devEui {i}"}
        else:
            doc["fPort"] = f"port {i}"
        return topic, json.dumps(doc).encode()
    if kind == "base64 error":
        doc["data"] = f"@@not base64 {i}@@"
        return topic, json.dumps(doc).encode()
    if kind == "unknown device":
        dev_eui = f"00000000{i:08x}"
        doc["deviceInfo"] = {**doc["deviceInfo"], "devEui": dev_eui, "tags": {}}
        doc["deviceInfo"]["deviceProfileName"] = "some-profile-we-do-not-map"
        doc["deduplicationId"] = str(uuid.UUID(int=i + 1, version=4))
        return topic_for(dev_eui), json.dumps(doc).encode()
    assert kind == "protobuf garbage"
    return topic, b"\x0a\x24" + doc["deduplicationId"].encode() + bytes([0xFF, 0x80 + i])


def test_malformed_messages_land_in_dead_letters_and_good_ones_are_stored(
    fleet_database: str,
    own_broker: RunningService,
    stream: Stream,
    bridge_process: BridgeFactory,
) -> None:
    database = fleet_database
    bad = [
        _bad(kind, i, *stream.messages[GOOD + k * BAD_PER_KIND + i])
        for k, kind in enumerate(KINDS)
        for i in range(BAD_PER_KIND)
    ]
    assert len(set(bad)) == len(bad) == GOOD // 19
    mixed: list[tuple[str, bytes]] = []
    good = iter(stream.messages[:GOOD])
    for b in bad:  # one bad message after every 19 good ones
        mixed.extend(next(good) for _ in range(19))
        mixed.append(b)
    assert len(mixed) == GOOD + len(bad)
    unknown = [fields(p)["deduplicationId"] for t, p in bad[3 * BAD_PER_KIND : 4 * BAD_PER_KIND]]

    with bridge_process(database, own_broker.url) as bridge:
        publish_and_wait(own_broker.url, mixed)
        expected_uplinks = GOOD + BAD_PER_KIND  # an unknown device's uplink is kept raw
        wait_until(
            lambda: (
                uplinks(database) >= expected_uplinks
                and count(database, "SELECT count(*) FROM dead_letters") >= len(bad)
            ),
            "every message stored or dead-lettered",
            90,
            bridge,
        )
        assert bridge.terminate() == 0

    with psycopg.connect(database) as conn:
        letters = conn.execute(
            "SELECT topic, payload, stage, reason, seen_count FROM dead_letters"
        ).fetchall()
    assert len(letters) == len(bad)
    assert {(t, bytes(p)) for t, p, *_ in letters} == set(bad)
    by_message = {(t, bytes(p)): (stage, reason, seen) for t, p, stage, reason, seen in letters}
    for k, kind in enumerate(KINDS):
        for message in bad[k * BAD_PER_KIND : (k + 1) * BAD_PER_KIND]:
            stage, reason, seen = by_message[message]
            assert stage == ("decode" if kind == "unknown device" else "parse"), (kind, reason)
            assert reason.strip(), kind
            assert seen == 1, kind  # received once, dead-lettered once
            if kind == "unknown device":
                assert "not registered" in reason

    assert uplinks(database) == expected_uplinks
    assert stored_dedup_ids(database) == set(stream.dedup_ids[:GOOD]) | set(unknown)
    unknown_status = "SELECT count(*) FROM uplinks WHERE decode_status = 'unknown_device'"
    assert count(database, unknown_status) == BAD_PER_KIND
    assert count(database, "SELECT count(*) FROM measurements") == (
        stream.expected_measurements(range(GOOD))
    )
