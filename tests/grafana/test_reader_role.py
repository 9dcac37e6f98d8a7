"""Migration 0009's role: read-only, limited to the read interface, and created once per
cluster however many databases migrate (concurrently, as the tests do)."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from icone import embedded
from storage.migrate import migrate
from tests.storage.helpers import fresh_database

READER = sql.Identifier("icone_grafana")


def _as_reader(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("SET ROLE {}").format(READER))


def test_concurrent_migrations_of_several_databases_share_one_role(
    pg_server: embedded.RunningService,
) -> None:
    errors_seen: list[BaseException] = []

    def one() -> None:
        try:
            with fresh_database(pg_server.url) as url:
                migrate(url, "plain")
                with psycopg.connect(url) as conn:
                    granted = conn.execute(
                        "SELECT has_table_privilege('icone_grafana', 'devices', 'SELECT'), "
                        "has_database_privilege('icone_grafana', current_database(), 'CONNECT')"
                    ).fetchone()
                    assert granted == (True, True)
        except BaseException as exc:
            errors_seen.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors_seen == []


def test_the_role_reads_the_interface_and_nothing_else(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        config = conn.execute(
            "SELECT rolconfig FROM pg_roles WHERE rolname = 'icone_grafana'"
        ).fetchone()
        assert config is not None
        assert "default_transaction_read_only=on" in config[0]
        _as_reader(conn)
        conn.execute("SELECT count(*) FROM icone_device_activity")
        conn.execute("SELECT * FROM icone_fleet()")
        conn.execute("SELECT stage, reason FROM dead_letters")
        conn.execute("SELECT * FROM icone_consumption(now() - interval '1 day', now())")
        for forbidden in (
            "SELECT * FROM api_keys",
            "SELECT ciphertext FROM device_keys",
            "SELECT * FROM audit_log",
            "SELECT payload FROM dead_letters",
            "SELECT * FROM network_events",
            "SELECT * FROM icone_schema",
            "INSERT INTO sites (id, name, kind) VALUES ('x', 'x', 'other')",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(forbidden)
