"""Logged measurements already committed are not sent again (ingest_service.repeats)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from hardware import simulator
from hardware.catalogue import load_catalogue
from hardware.fleet import build_fleet
from icone.demo import register_fleet
from ingest_service.batch_writer import BatchWriter, MessageOutcome
from ingest_service.repeats import DEFAULT_CAPACITY, CommittedKeys
from storage.records import Batch, InboundMessage, MeasurementRow
from tests.ingest.helpers import T0, count, pool_for, process, uplink

AXIOMA = "axioma-qalcosonic-w1"  # each frame carries the last hours' logged volumes


def _logged(batch: Batch) -> set[tuple[object, ...]]:
    live = batch.uplinks[0].time
    return {m[:4] for m in batch.measurements if m.time != live}


def test_only_committed_logged_rows_are_dropped_and_live_rows_never() -> None:
    first, second = process(uplink(0, AXIOMA, device=1)), process(uplink(3600, AXIOMA, device=1))
    keys = CommittedKeys()
    assert keys.unseen([second]) == second.measurements  # nothing committed yet
    keys.remember([first])
    kept = keys.unseen([second])
    repeated = _logged(first) & _logged(second)
    assert repeated, "the two frames' logs should overlap"
    assert {m[:4] for m in kept}.isdisjoint(repeated)
    assert len(kept) == len(second.measurements) - len(repeated)
    # the second frame's live readings and its newest logged hour stay
    live = second.uplinks[0].time
    assert [m for m in second.measurements if m.time == live] == [m for m in kept if m.time == live]
    # live rows are never remembered: a frame at the same instant keeps its live readings
    assert all(m[:4] not in keys for m in first.measurements if m.time == first.uplinks[0].time)


def test_the_oldest_keys_are_forgotten_beyond_the_capacity() -> None:
    keys = CommittedKeys(capacity=3)
    rows = [
        MeasurementRow(T0 + timedelta(hours=h), "70b3d50000000001", "water_volume", "", 1.0)
        for h in range(5)
    ]
    keys.remember([Batch(measurements=rows)])  # no uplink: every row counts as logged
    assert len(keys) == 3
    assert [r[:4] in keys for r in rows] == [False, False, True, True, True]
    with pytest.raises(ValueError, match="capacity"):
        CommittedKeys(capacity=-1)
    off = CommittedKeys(capacity=0)
    off.remember([Batch(measurements=rows)])
    assert len(off) == 0


def test_writers_with_memory_store_exactly_what_writers_without_store(database: str) -> None:
    """The virtual fleet's stream (every model; the logging meters repeat their logs) through
    two alternating writers, as two ingest workers would, with and without memory: the same
    rows, values included."""
    start = datetime.now(UTC) - timedelta(days=3)  # 3,000 uplinks a minute apart: all past
    fleet = build_fleet(load_catalogue(), 100, start=start)
    register_fleet(database, fleet)
    events = simulator.events(fleet, start, timedelta(minutes=1), protobuf=False)
    messages = [InboundMessage(t, p, T0) for t, p in itertools.islice(events, 3000)]
    summary = (
        "SELECT count(*), sum(hashtext(dev_eui || metric || channel || time::text"
        " || value::text)::numeric) FROM measurements"
    )
    results = []
    with pool_for(database) as pool:
        for capacity in (DEFAULT_CAPACITY, 0):
            writers = [BatchWriter(pool, process, committed_keys=capacity) for _ in range(2)]
            for i in range(0, len(messages), 250):
                writer = writers[i // 250 % 2]
                writer.store(writer.prepare(messages[i : i + 250]))
            with pool.connection() as conn:
                results.append(conn.execute(summary).fetchone())
                conn.execute("TRUNCATE measurements, uplinks, device_events")
            if capacity:
                assert all(len(w._committed) > 0 for w in writers)  # repeats were caught
    assert results[0] == results[1]
    assert results[0] is not None
    assert results[0][0] > 0


def test_the_writer_does_not_resend_what_it_committed(database: str) -> None:
    first, second = uplink(0, AXIOMA, device=1), uplink(3600, AXIOMA, device=1)
    repeated = _logged(process(first)) & _logged(process(second))
    oldest = min(k[0] for k in repeated)
    with pool_for(database) as pool:
        writer = BatchWriter(pool, process)
        writer.store(writer.prepare([first]))
        # Remove one logged row behind the writer's back: only a resend could bring it back.
        removed = count(database, "SELECT count(*) FROM measurements WHERE time = %s", (oldest,))
        assert removed > 0
        with pool.connection() as conn:
            conn.execute("DELETE FROM measurements WHERE time = %s", (oldest,))
        result = writer.store(writer.prepare([second]))
        assert count(database, "SELECT count(*) FROM measurements WHERE time = %s", (oldest,)) == 0
        # the second frame's new rows were written: its uplink, live readings, newest hour
        stored = count(database, "SELECT count(*) FROM measurements")
        expected = len({m[:4] for m in process(first).measurements + process(second).measurements})
        assert stored == expected - removed
        assert result.counts.measurements == len(process(second).measurements) - len(repeated)
        # A writer with no memory (another worker, a restart) sends them: the database
        # skips what it has and restores the row removed above.
        fresh = BatchWriter(pool, process)
        fresh.store([MessageOutcome(second, process(second))])
        restored = sum(1 for m in process(second).measurements if m.time == oldest)
        assert restored > 0
        assert (
            count(database, "SELECT count(*) FROM measurements WHERE time = %s", (oldest,))
            == restored
        )
