"""Storage fixtures: one migrated database per test, in plain mode (always) or TimescaleDB
mode (when ICONE_TEST_TIMESCALE_URL points at a server with timescaledb preloaded)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ingest_service.migrate import migrate


@pytest.fixture
def timescale_database(timescale_url: str) -> Iterator[str]:
    """A fresh database on the TimescaleDB server, migrated in TimescaleDB mode."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_conninfo(timescale_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(timescale_url, dbname=name)
    try:
        migrate(url, "timescale")
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["plain", pytest.param("timescale", marks=pytest.mark.timescale)])
def store(request: pytest.FixtureRequest) -> str:
    """A migrated database in each storage mode: the same test runs against both."""
    if request.param == "plain":
        return str(request.getfixturevalue("database"))
    return str(request.getfixturevalue("timescale_database"))
