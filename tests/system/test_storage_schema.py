"""Schema migrations: idempotent, versioned, TimescaleDB detected without touching it."""

from __future__ import annotations

import psycopg
import pytest

from storage.errors import MigrationError
from storage.migrate import StorageMode, detect_timescale, discover, migrate
from tests.storage.helpers import fresh_database


def test_migrate_twice_is_idempotent(empty_database: str) -> None:
    first = migrate(empty_database)
    second = migrate(empty_database)
    assert first.applied == [m.version for m in discover()]
    assert second.applied == []
    assert second.current == first.current
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute("SELECT version, mode FROM icone_schema ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in discover()]
    assert {r[1] for r in rows} == {str(first.mode)}


def test_plain_postgres_is_detected_without_create_extension(empty_database: str) -> None:
    with psycopg.connect(empty_database) as conn:
        status = detect_timescale(conn)
        assert status.installed is None
        assert not status.can_install
        # the connection is still usable: detection never attempted CREATE EXTENSION
        assert conn.execute("SELECT 1").fetchone() == (1,)
    report = migrate(empty_database)
    assert report.mode is StorageMode.PLAIN


def test_plain_mode_partitions_time_series_tables(database: str) -> None:
    with psycopg.connect(database) as conn:
        partitioned = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            )
        }
        brin = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING brin%'"
        ).fetchone()
    assert {"uplinks", "measurements", "device_events", "network_events"} <= partitioned
    assert brin is not None
    assert brin[0] >= 4


def test_forcing_timescale_on_plain_postgres_fails_clearly(empty_database: str) -> None:
    with pytest.raises(MigrationError, match="TimescaleDB requested but not usable"):
        migrate(empty_database, "timescale")


def test_mode_cannot_change_after_creation(empty_database: str) -> None:
    migrate(empty_database, "plain")
    migrate(empty_database, "auto")  # auto keeps the recorded mode
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT DISTINCT mode FROM icone_schema").fetchall() == [("plain",)]


@pytest.mark.timescale
def test_timescale_mode_creates_hypertables(timescale_url: str) -> None:
    # a database of its own on that server: the one the URL names is never migrated
    with fresh_database(timescale_url) as url:
        report = migrate(url)
        assert report.mode is StorageMode.TIMESCALE
        with psycopg.connect(url) as conn:
            names = {
                r[0]
                for r in conn.execute(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables"
                )
            }
        assert {"uplinks", "measurements", "device_events", "network_events"} <= names
        assert migrate(url).applied == []
