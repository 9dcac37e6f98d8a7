"""A database per storage mode filled with the demo fleet (once per session: every test only
reads it, or writes in a transaction it rolls back), and connections to it as Grafana's
read-only role."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from grafana.export import READER_ROLE
from icone import embedded
from storage.migrate import migrate
from tests.grafana.fleet_data import fill
from tests.storage.helpers import fresh_database


@dataclass(frozen=True, slots=True)
class FleetDatabase:
    url: str  # as the owner
    timescaledb: bool
    reader: Callable[[], contextlib.AbstractContextManager[psycopg.Connection[Any]]]


def _login_as_reader(owner_url: str) -> Callable[[], Any]:
    """Log in as the role itself (a password set for this private test cluster), so its
    role settings (read-only transactions, statement timeout) apply as they do for Grafana."""
    password = secrets.token_urlsafe(16)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(READER_ROLE), sql.Literal(password)
            )
        )
    url = make_conninfo(owner_url, user=READER_ROLE, password=password)
    return lambda: psycopg.connect(url, autocommit=True)


def _set_role(owner_url: str) -> Callable[[], Any]:
    """On a shared server the role's password is not ours to set: connect as the owner and
    SET ROLE (privileges are then checked as the role) with read-only transactions."""

    @contextlib.contextmanager
    def connect() -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(READER_ROLE)))
            conn.execute("SET default_transaction_read_only = on")
            conn.execute("SET statement_timeout = '30s'")
            yield conn

    return connect


@pytest.fixture(scope="session")
def plain_fleet(pg_server: embedded.RunningService) -> Iterator[FleetDatabase]:
    with fresh_database(pg_server.url) as url:
        migrate(url, "plain")
        fill(url)
        yield FleetDatabase(url, False, _login_as_reader(url))


@pytest.fixture(scope="session")
def timescale_fleet(timescale_url: str) -> Iterator[FleetDatabase]:
    with fresh_database(timescale_url) as url:
        migrate(url, "timescale")
        fill(url)
        yield FleetDatabase(url, True, _set_role(url))


@pytest.fixture(
    scope="module", params=["plain", pytest.param("timescale", marks=pytest.mark.timescale)]
)
def fleet_db(request: pytest.FixtureRequest) -> FleetDatabase:
    name = "plain_fleet" if request.param == "plain" else "timescale_fleet"
    db: FleetDatabase = request.getfixturevalue(name)
    assert conninfo_to_dict(db.url)
    return db
