"""Schemathesis against the running API (uvicorn, real HTTP) on a real database seeded by
the virtual fleet: every operation, all of schemathesis's checks (server errors, status codes,
content types, response schemas, negative data rejected, positive data accepted, auth not
ignored...), once with an admin key and once with a key scoped to one site.

Bounded so it stays well within the suite's budget: few examples per operation, derandomised
(the same cases on every run). The stateful phase is not run: the API is read-only, so its
OpenAPI document has no links between operations for it to follow.
The same run from a shell is in README.md (API, "Property-based tests").
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from gateway_bridge.config import BridgeConfig, BrokerAddress
from gateway_bridge.pipeline import Processor
from hardware import simulator
from hardware.catalogue import load_catalogue
from hardware.fleet import build_fleet
from icone.demo import register_fleet
from icone.embedded import free_port
from icone.runtime import running_api
from ingest_service.batch_writer import BatchWriter
from storage import apikeys
from storage.migrate import migrate
from storage.records import InboundMessage
from storage.registry import DeviceModels

SCOPED_SITE = "datacenter-metropole"


def _seed(database: str) -> dict[str, str]:
    """12 virtual devices, 6 hours of their uplinks through the real pipeline, two keys."""
    start = datetime.now(UTC) - timedelta(hours=6)
    fleet = build_fleet(load_catalogue(), 12, start=start)
    register_fleet(database, fleet)
    config = BridgeConfig(broker=BrokerAddress.from_url("mqtt://unused.invalid"))
    with ConnectionPool(database, min_size=1, max_size=2) as pool:
        writer = BatchWriter(pool, Processor(config, DeviceModels(pool).lookup))
        stream = simulator.events(fleet, start, timedelta(minutes=30) / len(fleet), False)
        messages = [
            InboundMessage(topic, payload, start + timedelta(hours=6))
            for topic, payload in islice(stream, 12 * 12)
        ]
        result = writer.store(writer.prepare(messages))
        assert result.counts.uplinks == len(messages)
    with psycopg.connect(database) as conn:
        return {
            "admin": apikeys.create_key(conn, "st admin", "admin"),
            "scoped": apikeys.create_key(conn, "st scoped", "energy_manager", [SCOPED_SITE]),
        }


@pytest.fixture(scope="module")
def served(pg_server: Any) -> Iterator[tuple[str, dict[str, str]]]:
    # Module scope: one database for every generated case (the `database` fixture is per test).
    admin_url = pg_server.url.rsplit("/", 1)[0] + "/postgres"
    name = "icone_schemathesis"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = pg_server.url.rsplit("/", 1)[0] + f"/{name}"
    migrate(database)
    keys = _seed(database)
    port = free_port()
    with running_api(database, "127.0.0.1", port):
        yield f"http://127.0.0.1:{port}", keys


# The admin key through every phase; the scoped key (what it may see is the part that differs)
# through the fuzzing phase only, to keep the suite's budget: the coverage phase's boundary
# values do not depend on the key.
@pytest.mark.parametrize(
    ("key", "phases"), [("admin", "examples,coverage,fuzzing"), ("scoped", "examples,fuzzing")]
)
def test_api_conforms_to_its_schema(
    served: tuple[str, dict[str, str]], key: str, phases: str
) -> None:
    base_url, keys = served
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        phases,
        "--max-examples",
        "8",
        "--seed",
        "1",
        "--generation-deterministic",
        "--request-timeout",
        "10",
        "--no-color",
        # a live check-up stream stays open for minutes by design (server-sent events): its
        # route is covered by the browser tests, not by request/response fuzzing
        "--exclude-operation-id",
        "devices-technician-live",
        "-H",
        f"Authorization: Bearer {keys[key]}",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or " passed" in run.stdout, run.stdout[-3000:]
