"""Day and month buckets agree with hour buckets at every instant (migration 0006): readings
that arrive late into a range the rollups already cover count in the very next query, in
both storage modes (TimescaleDB: into compressed chunks too), and a refresh clears the
invalidations it covered without changing a figure.

A water register gains 10 L every hour (100 m³ + 0.01 m³ x hour) from 00:00 Paris time on
11 June 2025 (22:00Z on the 10th) to 00:00 on the 14th: 0.24 m³ a local day, 0.72 m³ in
June. Before the refresh only day 1 and the first half of day 3 are stored; the rest
arrives afterwards, with one reading of day 2 stepping back 1 L.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from ingest_service.writer import write_batch
from storage.consumption import consumption
from storage.migrate import StorageMode, storage_mode
from storage.records import Batch, MeasurementRow
from tests.storage.helpers import add_device, put, refresh

PARIS = ZoneInfo("Europe/Paris")
WATER = "water_volume_index"
A = "f000000000000001"  # partly on time, partly late
B = "f000000000000002"  # entirely late: its register has no rollup row at all
START = datetime(2025, 6, 10, 22, 0, tzinfo=UTC)
WINDOW = (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))


def _value(h: int) -> float:
    return 100 + 0.01 * h - (0.001 if h == 30 else 0)


def _readings(hours: range) -> list[tuple[datetime, float]]:
    return [(START + timedelta(hours=h), _value(h)) for h in hours]


def _by(conn: psycopg.Connection[Any], bucket: str) -> dict[tuple[str, str], float]:
    rows = consumption(conn, *WINDOW, bucket)  # type: ignore[arg-type]
    out: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        local = r.bucket.astimezone(PARIS)
        # hour figures summed by local day and month: what the day/month buckets must equal
        for label in (
            (local.strftime("%Y-%m-%d"), local.strftime("%Y-%m"))
            if bucket == "hour"
            else (local.strftime("%Y-%m-%d" if bucket == "day" else "%Y-%m"),)
        ):
            out[(r.dev_eui, label)] += r.consumption
    return {k: round(v, 9) for k, v in out.items()}


def _compress_all(conn: psycopg.Connection[Any]) -> int:
    """Compress every chunk of `measurements`; returns how many are compressed. The
    compression policy's background job may compress one at the same moment: not an error."""
    chunks = conn.execute("SELECT c::text FROM show_chunks('measurements') c").fetchall()
    for (chunk,) in chunks:
        with contextlib.suppress(psycopg.errors.DuplicateObject):  # the policy was first
            conn.execute("SELECT compress_chunk(%s::regclass, if_not_compressed => true)", (chunk,))
    row = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'measurements' AND is_compressed"
    ).fetchone()
    return int(row[0]) if row else 0


def test_late_readings_count_in_the_next_query(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        add_device(conn, A)
        add_device(conn, B)
        put(conn, A, WATER, _readings(range(24)) + _readings(range(48, 61)))
        refresh(conn)
        assert conn.execute("SELECT count(*) FROM rollup_invalidations").fetchone() == (0,)
        before = _by(conn, "month")
        if storage_mode(conn) is StorageMode.TIMESCALE:
            assert _compress_all(conn) > 0  # the late rows below land in compressed chunks

        put(conn, A, WATER, _readings(range(24, 48)))
        write_batch(
            conn,
            Batch(
                measurements=[
                    MeasurementRow(t, A, WATER, "", v) for t, v in _readings(range(61, 73))
                ]
            ),
        )
        put(conn, B, WATER, _readings(range(73)))
        invalidated = conn.execute("SELECT count(*) FROM rollup_invalidations").fetchone()
        now = {b: _by(conn, b) for b in ("hour", "day", "month")}

        refresh(conn)
        left = conn.execute("SELECT count(*) FROM rollup_invalidations").fetchone()
        refreshed = {b: _by(conn, b) for b in ("hour", "day", "month")}

    # guards: the late rows changed the figures, and went through the invalidations
    assert before == {(A, "2025-06"): 0.6}
    assert invalidated == (3 + 4,)  # A: 12, 13, 14 June (its 00:00 reading); B: 11-14 June
    expected_days = {
        (dev, day): 0.24 for dev in (A, B) for day in ("2025-06-11", "2025-06-12", "2025-06-13")
    }
    expected_months = {(A, "2025-06"): 0.72, (B, "2025-06"): 0.72}
    hour_sums = now["hour"]
    assert {k: v for k, v in hour_sums.items() if len(k[1]) == 10} == expected_days
    assert {k: v for k, v in hour_sums.items() if len(k[1]) == 7} == expected_months
    assert now["day"] == expected_days
    assert now["month"] == expected_months
    assert left == (0,)
    assert refreshed == now
