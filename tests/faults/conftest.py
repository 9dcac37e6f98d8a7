"""Fixtures of the fault tests: one realistic stream for the session, a broker of each
test's own (its persistent sessions and queues must not leak into other tests), and the
bridge as a subprocess that a test may kill."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import psycopg
import pytest

from gateway_bridge.config import BridgeConfig, BrokerAddress
from gateway_bridge.pipeline import Processor
from hardware import simulator
from hardware.catalogue import load_catalogue
from hardware.fleet import build_fleet
from icone import embedded
from icone.demo import register_fleet
from storage.records import InboundMessage
from tests.faults.helpers import BridgeProcess, Stream, create_session, dedup_id_of

STREAM_SIZE = 50_000  # the kill -9 stream; the other tests use a prefix of it
FLEET_SIZE = 120  # every catalogued model several times over


@pytest.fixture(scope="session")
def stream() -> Stream:
    # Two days ago: every uplink time is plausible, so it (not our receive time) is used,
    # and the rows a message yields are the same here and in the bridge.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    fleet = build_fleet(load_catalogue(), FLEET_SIZE, start=start)
    models = {d.dev_eui: d.model for d in fleet}
    messages = list(
        islice(simulator.events(fleet, start, timedelta(seconds=1), protobuf=False), STREAM_SIZE)
    )
    # What a clean run stores, computed here by decoding each message once on its own.
    processor = Processor(
        BridgeConfig(broker=BrokerAddress.from_url("mqtt://x@127.0.0.1:1")), models.get
    )
    now = datetime.now(UTC)
    keys = []
    for topic, payload in messages:
        batch = processor(InboundMessage(topic, payload, now))
        assert len(batch.uplinks) == 1, "the fleet's stream is clean"
        assert not batch.dead_letters, "the fleet's stream is clean"
        keys.append(tuple((m.dev_eui, m.metric, m.channel, m.time) for m in batch.measurements))
    return Stream(fleet, messages, [dedup_id_of(p) for _, p in messages], keys)


@pytest.fixture
def fleet_database(database: str, stream: Stream) -> str:
    """The migrated per-test database with the stream's fleet registered."""
    register_fleet(database, stream.fleet)
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM devices").fetchone()
    assert row is not None
    assert row[0] == FLEET_SIZE
    return database


@pytest.fixture
def broker_home(tmp_path: Path) -> tuple[Path, int]:
    """State dir and fixed port of a broker this test owns (and may restart)."""
    return tmp_path / "broker", embedded.free_port()


@pytest.fixture
def own_broker(broker_home: tuple[Path, int]) -> Iterator[embedded.RunningService]:
    state, port = broker_home
    with embedded.mosquitto(state, port=port) as service:
        yield service


BridgeFactory = Callable[..., BridgeProcess]


@pytest.fixture
def bridge_process(tmp_path: Path) -> Iterator[BridgeFactory]:
    """make(database_url, mqtt_url): a bridge process (not started) with a persistent
    session created for it; killed at the end of the test if still running."""
    made: list[BridgeProcess] = []

    def make(database_url: str, mqtt_url: str, ingest_workers: int = 0) -> BridgeProcess:
        client_id = f"fault-bridge-{len(made)}"
        create_session(mqtt_url, client_id)
        process = BridgeProcess(
            database_url,
            mqtt_url,
            tmp_path / "bridge-state",
            client_id,
            tmp_path / "bridge.log",
            ingest_workers,
        )
        made.append(process)
        return process

    yield make
    for process in made:
        process.__exit__(None, None, None)
