"""Session fixtures: a real PostgreSQL and a real Mosquitto, started for the test run.

Both come from Debian's packages, through the same code the demo uses (icone.embedded),
on free loopback ports; nothing is mocked where the real server runs here. The suite
fails (does not skip) if either cannot start. TimescaleDB tests use ICONE_TEST_TIMESCALE_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from icone import embedded
from storage.appkey_cipher import AppKeyCipher, generate_key, parse_key
from storage.migrate import migrate

os.environ.setdefault("TZ", "UTC")


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("icone-state")


@pytest.fixture(scope="session")
def pg_server(state_dir: Path) -> Iterator[embedded.RunningService]:
    with embedded.postgres(state_dir) as service:
        yield service


@pytest.fixture(scope="session")
def broker(state_dir: Path) -> Iterator[embedded.RunningService]:
    with embedded.mosquitto(state_dir) as service:
        yield service


def _admin_url(pg: embedded.RunningService) -> str:
    return pg.url.rsplit("/", 1)[0] + "/postgres"


@pytest.fixture
def empty_database(pg_server: embedded.RunningService) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin_url(pg_server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_server.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database(empty_database: str) -> str:
    """A fresh database with the schema migrated (plain or TimescaleDB, as the server allows)."""
    migrate(empty_database)
    return empty_database


@pytest.fixture
def appkey_cipher() -> AppKeyCipher:
    """A fresh AppKey encryption key, as an operator sets ICONE_REGISTRY__SECRET_KEY."""
    return AppKeyCipher(parse_key(generate_key()))


@pytest.fixture(scope="session")
def timescale_url() -> str:
    url = os.environ.get("ICONE_TEST_TIMESCALE_URL")
    if not url:
        pytest.skip(
            "TimescaleDB tests need ICONE_TEST_TIMESCALE_URL (a server with timescaledb "
            "preloaded); Debian has no TimescaleDB package, so CI runs in plain-PostgreSQL mode"
        )
    return url
