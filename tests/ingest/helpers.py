"""Builders shared by the ingest tests: real ChirpStack events, the real pipeline."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from gateway_bridge.config import BridgeConfig, BrokerAddress
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Processor
from hardware.chirpstack_events import encode_event, topic_for, uplink_event
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState
from ingest_service.batch_writer import BatchWriter
from ingest_service.service import IngestService
from ingest_service.spool import Spool
from ingest_service.workers import WorkerParts
from storage.records import Batch, InboundMessage

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
CONFIG = BridgeConfig(broker=BrokerAddress.from_url("mqtt://127.0.0.1:1883"))


def dev_eui(i: int) -> str:
    return f"70b3d5{i:010x}"


def uplink(
    i: int,
    model: str = "milesight-em300-th",
    device: int | None = None,
    *,
    tagged: bool = True,
    **state: Any,
) -> InboundMessage:
    """The i-th uplink of a stream: a unique deduplicationId and time, real payload bytes."""
    moment = T0 + timedelta(seconds=i)
    f_port, payload = ENCODERS[model].encode(PhysicalState(time=moment, **state))
    eui = dev_eui(i % 50 if device is None else device)
    event = uplink_event(
        dev_eui=eui,
        model=model,
        f_port=f_port,
        payload=payload,
        time=moment,
        f_cnt=i,
        rng=random.Random(i),
        deduplication_id=uuid.UUID(int=i + 1, version=4),
    )
    if not tagged:
        event["deviceInfo"]["tags"] = {}  # the model must then come from the registry
    return InboundMessage(topic_for(eui), encode_event(event, protobuf=False), moment)


def malformed(i: int) -> InboundMessage:
    eui = dev_eui(i)
    return InboundMessage(topic_for(eui), b'{"deduplicationId": ' + str(i).encode(), T0)


def _none(_dev_eui: str) -> str | None:
    return None


# The bridge's pipeline; the model comes from the event's tag (no registry lookup).
process = Processor(CONFIG, _none)


def count(url: str, query: str, params: tuple[object, ...] = ()) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def drained(service: IngestService, n: int) -> bool:
    """At least `n` messages committed and nothing left in the spool."""
    stats = service.stats
    return stats.committed_messages >= n and stats.spool_pending == 0


@contextmanager
def pool_for(url: str) -> Iterator[ConnectionPool[Any]]:
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=2, open=True, check=ConnectionPool.check_connection
    )
    try:
        pool.wait(timeout=30)
        yield pool
    finally:
        pool.close()


@contextmanager
def running_service(
    pool: ConnectionPool[Any],
    spool_dir: Path,
    process: Callable[[InboundMessage], Batch] = process,
    max_bytes: int = 64 << 20,
    **options: Any,
) -> Iterator[IngestService]:
    with Spool(spool_dir, max_bytes) as spool:
        service = IngestService(pool, spool, process, flush_interval_s=0.05, **options)
        service.start()
        try:
            yield service
        finally:
            service.stop(timeout=30)


POISON_DEVICE = 4242


def poisoning(message: InboundMessage) -> Batch:
    """The real pipeline, but one device's uplink carries an f_port out of integer range."""
    batch = process(message)
    batch.uplinks = [
        u._replace(f_port=2**40) if u.dev_eui == dev_eui(POISON_DEVICE) else u
        for u in batch.uplinks
    ]
    return batch


def worker_parts(database_url: str, poison: bool = False) -> WorkerParts:
    """An ingest worker's parts for the tests (runs in the spawned worker): the real pipeline
    (or `poisoning`) writing over a pool of that process, with metrics it reports."""
    pool: ConnectionPool[Any] = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
    metrics = BridgeMetrics()
    processor = Processor(CONFIG, _none, metrics)
    writer = BatchWriter(pool, poisoning if poison else processor)
    return WorkerParts(writer, metrics.processor_totals)
