"""Logged measurements already committed are not sent again (ingest_service.repeats)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_service.records import Batch, MeasurementRow
from ingest_service.repeats import CommittedKeys
from ingest_service.service import BatchWriter, MessageOutcome
from tests.ingest.helpers import T0, count, pool_for, process, uplink

AXIOMA = "axioma-qalcosonic-w1"  # each frame carries the last hours' logged volumes


def _logged(batch: Batch) -> set[tuple[object, ...]]:
    live = batch.uplinks[0].time
    return {m[:4] for m in batch.measurements if m.time != live}


def test_only_committed_logged_rows_are_dropped_and_live_rows_never() -> None:
    first, second = process(uplink(0, AXIOMA, device=1)), process(uplink(3600, AXIOMA, device=1))
    keys = CommittedKeys()
    assert keys.unseen(second) == second.measurements  # nothing committed yet
    keys.remember([first])
    kept = keys.unseen(second)
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
        CommittedKeys(capacity=0)


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
