"""A redelivered uplink in the same write transaction as its original is written once, with
no bisection; an uplink with an unusable field is stored with its `validate` dead letter."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg

from ingest_service.batch_writer import BatchWriter
from storage.records import InboundMessage
from tests.ingest.helpers import count, pool_for, process, uplink


def test_redelivery_in_the_same_batch_is_written_once_without_bisection(database: str) -> None:
    messages = [uplink(i) for i in range(20)]
    # the broker sends it again (a reconnect before its PUBACK): same bytes, received later
    redelivered = messages[7]._replace(received_at=messages[7].received_at + timedelta(seconds=5))
    batch = [*messages[:10], redelivered, *messages[10:], messages[3]._replace()]
    with pool_for(database) as pool:
        writer = BatchWriter(pool, process)
        result = writer.store(writer.prepare(batch))
    assert result.bisections == 0
    assert [o.store_error for o in result.outcomes] == [None] * len(batch)
    assert result.counts.uplinks == 20
    assert count(database, "SELECT count(*) FROM uplinks") == 20
    assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == 20
    assert count(database, "SELECT count(*) FROM dead_letters") == 0


def test_unusable_field_is_stored_with_a_validate_dead_letter(database: str) -> None:
    good = uplink(1)
    doc = json.loads(good.payload)
    doc["fCnt"] = "abc"
    bad = InboundMessage(good.topic, json.dumps(doc).encode(), good.received_at)
    with pool_for(database) as pool:
        writer = BatchWriter(pool, process)
        result = writer.store(writer.prepare([bad]))
    assert result.bisections == 0
    with psycopg.connect(database) as conn:
        stored = conn.execute("SELECT deduplication_id, f_cnt FROM uplinks").fetchall()
        letters = conn.execute(
            "SELECT stage, deduplication_id, reason, payload FROM dead_letters"
        ).fetchall()
    assert [(str(d), f) for d, f in stored] == [(doc["deduplicationId"], None)]
    ((stage, letter_dedup, reason, payload),) = letters
    assert (stage, str(letter_dedup)) == ("validate", doc["deduplicationId"])
    assert "fCnt" in reason
    assert bytes(payload) == bad.payload  # the raw event, for the producer's fix and replay
