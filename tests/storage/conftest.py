"""Storage fixtures: one migrated database per test, in plain mode (always) or TimescaleDB
mode (when ICONE_TEST_TIMESCALE_URL points at a server with timescaledb preloaded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.migrate import migrate
from tests.storage.helpers import fresh_database


@pytest.fixture
def timescale_database(timescale_url: str) -> Iterator[str]:
    """A fresh database on the TimescaleDB server, migrated in TimescaleDB mode."""
    with fresh_database(timescale_url) as url:
        migrate(url, "timescale")
        yield url


@pytest.fixture(params=["plain", pytest.param("timescale", marks=pytest.mark.timescale)])
def store(request: pytest.FixtureRequest) -> str:
    """A migrated database in each storage mode: the same test runs against both."""
    if request.param == "plain":
        return str(request.getfixturevalue("database"))
    return str(request.getfixturevalue("timescale_database"))
