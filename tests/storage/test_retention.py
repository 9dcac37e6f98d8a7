"""Retention by data class, and the maintenance pass, in both modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage.maintenance import run_maintenance
from storage.migrate import StorageMode
from storage.retention import (
    ClassHorizons,
    RetentionPolicy,
    apply_retention,
    schedule_retention,
)
from tests.storage.helpers import add_device, put, refresh

PERSONAL = "d000000000000006"
PUBLIC = "d000000000000007"
NOW = datetime(2026, 6, 15, tzinfo=UTC)


def _ages(conn: psycopg.Connection[tuple[object, ...]], view: str) -> set[tuple[str, int]]:
    col = "time" if view == "measurements" else "bucket"
    rows = conn.execute(
        f"SELECT dev_eui, round(extract(epoch FROM %s - {col}) / 86400)::int FROM {view}",
        (NOW,),
    ).fetchall()
    return {(str(d), int(str(a))) for d, a in rows}


def test_personal_raw_data_goes_first(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        add_device(conn, PERSONAL, data_class="personal")
        add_device(conn, PUBLIC)
        for dev in (PERSONAL, PUBLIC):
            put(
                conn, dev, "temperature", [(NOW - timedelta(days=d), 20.0) for d in (1200, 800, 10)]
            )
        refresh(conn, NOW - timedelta(days=2000))
        results = apply_retention(conn, RetentionPolicy(), NOW)
        raw = _ages(conn, "measurements")
        hourly = _ages(conn, "measurements_hourly")
        daily = _ages(conn, "measurements_daily")
        # a later refresh over the whole past cannot resurrect or erase anything
        refresh(conn, NOW - timedelta(days=2000))
        assert _ages(conn, "measurements_hourly") == hourly
        assert _ages(conn, "measurements_daily") == daily
    assert raw == {(PERSONAL, 10), (PUBLIC, 800), (PUBLIC, 10)}
    assert hourly == {(PERSONAL, 10), (PUBLIC, 1200), (PUBLIC, 800), (PUBLIC, 10)}
    assert daily == {(PERSONAL, 800), (PERSONAL, 10), (PUBLIC, 1200), (PUBLIC, 800), (PUBLIC, 10)}
    removed = {(r.target, r.data_class): r.rows_removed for r in results}
    assert removed[("measurements", "all")] == 2  # both 1,200-day-old rows
    assert removed[("measurements", "personal")] == 1


def test_policy_refuses_horizons_that_would_empty_aggregates() -> None:
    with pytest.raises(ValueError, match="shorter than"):
        RetentionPolicy(raw=ClassHorizons(timedelta(days=7), None))
    with pytest.raises(ValueError, match="hourly"):
        RetentionPolicy(hourly=ClassHorizons(timedelta(days=100), None))


def test_maintenance_creates_partitions_and_moves_early_rows(database: str) -> None:
    later = datetime.now(UTC) + timedelta(days=240)
    with psycopg.connect(database, autocommit=True) as conn:
        add_device(conn, PUBLIC)
        put(conn, PUBLIC, "temperature", [(later, 21.0)])  # lands in the DEFAULT partition
    report = run_maintenance(database, RetentionPolicy(), later)
    again = run_maintenance(database, RetentionPolicy(), later)
    with psycopg.connect(database) as conn:
        part = f"measurements_{later:%Y%m}"
        assert conn.execute(f"SELECT count(*) FROM {part}").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM measurements_default").fetchone() == (0,)
    assert report.mode is StorageMode.PLAIN
    assert report.partitions_created >= 4
    assert again.partitions_created == 0


@pytest.mark.timescale
def test_maintenance_runs_in_timescale_mode(timescale_database: str) -> None:
    report = run_maintenance(timescale_database, RetentionPolicy(), datetime.now(UTC))
    assert report.mode is StorageMode.TIMESCALE
    assert report.partitions_created == 0


@pytest.mark.timescale
def test_scheduled_retention_job_applies_the_policy(timescale_database: str) -> None:
    policy = RetentionPolicy(network_events=None)
    now = datetime.now(UTC)
    with psycopg.connect(timescale_database, autocommit=True) as conn:
        add_device(conn, PUBLIC)
        put(conn, PUBLIC, "temperature", [(now - timedelta(days=d), 20.0) for d in (1200, 10)])
        first = schedule_retention(conn, RetentionPolicy(), every=timedelta(hours=6))
        job_id = schedule_retention(conn, policy)  # rescheduling replaces, never duplicates
        jobs = conn.execute(
            "SELECT job_id, schedule_interval, config FROM timescaledb_information.jobs "
            "WHERE proc_name = 'icone_retention_job'"
        ).fetchall()
        conn.execute("CALL run_job(%s)", (job_id,))  # what the scheduler does, run now
        left = conn.execute(
            "SELECT round(extract(epoch FROM %s - time) / 86400)::int FROM measurements",
            (now,),
        ).fetchall()
    assert job_id != first
    assert jobs == [(job_id, timedelta(days=1), policy.as_json())]
    assert left == [(10,)]
