"""`write_batch` on a real PostgreSQL: live rows go in without the ON CONFLICT probe first,
and fall back to it when one is stored already; counts and stored rows stay exact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ingest_service.writer import WriteCounts, write_batch
from storage.records import Batch, InboundMessage
from tests.ingest.helpers import process, uplink


def _batch(messages: Sequence[InboundMessage]) -> Batch:
    batch = Batch()
    for message in messages:
        batch.extend(process(message))
    return batch


def _table(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT * FROM {} ORDER BY 1, 2, 3, 4").format(sql.Identifier(table))
    return conn.execute(query).fetchall()


def _stored(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    return {t: _table(conn, t) for t in ("uplinks", "measurements", "device_events")}


def _write(url: str, batch: Batch) -> WriteCounts:
    with psycopg.connect(url) as conn:
        return write_batch(conn, batch)


@pytest.fixture
def messages() -> list[InboundMessage]:
    # Two models: live readings only (EM300-TH), and a meter that repeats its log (Axioma).
    return [uplink(i, "milesight-em300-th") for i in range(30)] + [
        uplink(100 + i, "axioma-qalcosonic-w1", device=7) for i in range(6)
    ]


def test_live_rows_of_a_fresh_batch_are_stored_once(
    store: str, messages: list[InboundMessage]
) -> None:
    batch = _batch(messages)
    live = {(u.dev_eui, u.time) for u in batch.uplinks}
    assert any((m.dev_eui, m.time) in live for m in batch.measurements)
    assert any((m.dev_eui, m.time) not in live for m in batch.measurements)  # logged ones too
    counts = _write(store, batch)
    with psycopg.connect(store) as conn:
        stored = _stored(conn)
    keys = {(m.time, m.dev_eui, m.metric, m.channel) for m in batch.measurements}
    assert counts.uplinks == len(batch.uplinks) == len(stored["uplinks"])
    assert counts.measurements == len(keys) == len(stored["measurements"])
    assert counts.device_events == len(batch.events) == len(stored["device_events"])


def test_a_redelivered_uplink_among_new_ones_falls_back_without_doubling(
    store: str, messages: list[InboundMessage]
) -> None:
    first, second = messages[:20], messages[15:]  # 5 uplinks in both
    _write(store, _batch(first))
    with psycopg.connect(store) as conn:
        before = _stored(conn)
    counts = _write(store, _batch(second))
    with psycopg.connect(store) as conn:
        after = _stored(conn)
    everything = _batch(messages)
    assert counts.uplinks == len(messages) - 20
    assert len(after["uplinks"]) == len(messages)
    assert len(after["measurements"]) == len(
        {(m.time, m.dev_eui, m.metric, m.channel) for m in everything.measurements}
    )
    assert len(after["device_events"]) == len(everything.events)
    assert set(before["measurements"]) <= set(after["measurements"])  # nothing rewritten
    # and the same again changes nothing at all
    again = _write(store, _batch(messages))
    assert (again.uplinks, again.measurements, again.device_events) == (0, 0, 0)
    with psycopg.connect(store) as conn:
        assert _stored(conn) == after


def test_a_live_row_already_stored_as_a_logged_one_is_kept_once(
    store: str, messages: list[InboundMessage]
) -> None:
    batch = _batch(messages)
    live = {(u.dev_eui, u.time) for u in batch.uplinks}
    # The live readings of the first uplink, stored earlier as rows of no uplink of theirs
    # (a meter's log carried them first): they clash with the live insert.
    clash = [m for m in batch.measurements if (m.dev_eui, m.time) in live][:3]
    assert clash
    earlier = _write(store, Batch(measurements=clash))
    assert earlier.measurements == len(clash)
    counts = _write(store, batch)
    keys = {(m.time, m.dev_eui, m.metric, m.channel) for m in batch.measurements}
    assert counts.measurements == len(keys) - len(clash)
    with psycopg.connect(store) as conn:
        assert len(_table(conn, "measurements")) == len(keys)
        assert len(_table(conn, "uplinks")) == len(batch.uplinks)
