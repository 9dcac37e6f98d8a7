"""Retention by data class, and the maintenance pass, in both modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage.indicators import DeviceModel, sync_device_models
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


def test_derived_figures_follow_their_daily_rows(store: str) -> None:
    """The figure, thermal and site caches (migrations 0012, 0018) are daily data of their
    devices' class (0019): a personal meter's day figures older than the personal daily
    horizon (3 years) go, and its site's rows with them; a public meter's stay (its daily
    horizon is unlimited)."""
    with psycopg.connect(store, autocommit=True) as conn:
        add_device(conn, PERSONAL, "site-p", data_class="personal")
        add_device(conn, PUBLIC, "site-q")
        sync_device_models(conn, [DeviceModel("e-meter", "energy", 86_400)])
        conn.execute(
            "UPDATE devices SET model = 'e-meter' WHERE dev_eui IN (%s, %s)", (PERSONAL, PUBLIC)
        )
        for dev in (PERSONAL, PUBLIC):
            days = [NOW - timedelta(days=d) for d in range(1200, 1090, -1)]
            put(
                conn, dev, "energy_active_import_index", [(t, float(i)) for i, t in enumerate(days)]
            )
        refresh(conn, NOW - timedelta(days=2000))
        cutoff = NOW - timedelta(days=1095)

        def oldest(table: str, key: str, value: str) -> datetime | None:
            row = conn.execute(
                f"SELECT min(bucket) FROM {table} WHERE {key} = %s AND span = 'day'", (value,)
            ).fetchone()
            return row[0] if row else None

        assert oldest("site_day_cache", "site_id", "site-p") < cutoff  # the guards: cached
        assert oldest("figure_cache", "dev_eui", PERSONAL) < cutoff
        results = apply_retention(conn, RetentionPolicy(), NOW)
        assert oldest("figure_cache", "dev_eui", PERSONAL) >= cutoff
        assert oldest("site_day_cache", "site_id", "site-p") >= cutoff
        assert oldest("figure_cache", "dev_eui", PUBLIC) < cutoff
        assert oldest("site_day_cache", "site_id", "site-q") < cutoff
        first = conn.execute(
            "SELECT first_day FROM site_day_horizon WHERE site_id = 'site-p'"
        ).fetchone()
        assert first is not None
        assert first[0] >= cutoff
    removed = {(r.target, r.data_class): r.rows_removed for r in results}
    assert removed[("figure_cache", "personal")] > 0
    assert removed[("site_day_cache", "personal")] > 0


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
