"""Helpers shared by the system tests (real broker, real database)."""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg

from gateway_bridge.config import BridgeConfig, BrokerAddress
from gateway_bridge.subscriber import Bridge
from hardware import simulator
from icone.runtime import running_bridge


def bridge_config(broker_url: str, **overrides: object) -> BridgeConfig:
    config = BridgeConfig(
        broker=BrokerAddress.from_url(broker_url),
        client_id=f"test-bridge-{uuid.uuid4().hex[:8]}",
        flush_interval_s=0.05,
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


@contextmanager
def bridge(
    config: BridgeConfig, database_url: str, state_dir: Path | None = None
) -> Iterator[Bridge]:
    """A running bridge + ingest service; its spool lives in `state_dir` (a temp dir if None)."""
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-")))
        yield stack.enter_context(running_bridge(config, database_url, state_dir))


def publisher(broker_url: str) -> mqtt.Client:
    address = BrokerAddress.from_url(broker_url)
    return simulator.connect(
        address.host,
        address.port,
        address.username,
        address.password.get_secret_value() if address.password else None,
        client_id=f"test-pub-{uuid.uuid4().hex[:8]}",
    )


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def count(database_url: str, query: str, params: tuple[object, ...] = ()) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def now() -> datetime:
    return datetime.now(UTC)
