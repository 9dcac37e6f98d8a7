"""IngestService with worker processes (ICONE_BRIDGE__INGEST_WORKERS) on a real PostgreSQL:
exact counts, bisection inside a worker, a worker killed mid-drain, metrics carried back."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import psutil
import pytest

from gateway_bridge.metrics import BridgeMetrics
from ingest_service.batch_writer import is_retriable
from ingest_service.workers import WorkerFailed, WorkerPool
from tests.ingest.helpers import (
    POISON_DEVICE,
    count,
    drained,
    pool_for,
    running_service,
    uplink,
    wait_for,
    worker_parts,
)


@contextmanager
def worker_pool(
    database: str, workers: int = 2, poison: bool = False, metrics: BridgeMetrics | None = None
) -> Iterator[WorkerPool]:
    pool = WorkerPool(
        partial(worker_parts, database, poison),
        workers,
        metrics.add_processor_totals if metrics is not None else None,
    )
    try:
        pool.start()
        yield pool
    finally:
        pool.close()


def _processed(metrics: BridgeMetrics, outcome: str) -> float:
    return sum(
        sample.value
        for family in metrics.processed.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["outcome"] == outcome
    )


def test_workers_store_every_message_exactly_once_and_report_their_metrics(
    database: str, tmp_path: Path
) -> None:
    stream = [uplink(i) for i in range(600)]
    metrics = BridgeMetrics()
    with (
        pool_for(database) as pool,
        worker_pool(database, metrics=metrics) as workers,
        running_service(pool, tmp_path, batch_size=64, workers=workers) as service,
    ):
        for k in range(0, 600, 100):
            service.accept(stream[k : k + 100])
        service.accept(stream[:150])  # a broker redelivery after a lost acknowledgement
        wait_for(lambda: drained(service, 750), what="750 messages committed")
        stats = service.stats
    assert count(database, "SELECT count(*) FROM uplinks") == 600
    assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == 600
    assert count(database, "SELECT count(*) FROM measurements") == 1800
    assert count(database, "SELECT count(*) FROM dead_letters") == 0
    assert stats.rows["uplinks"] == 600  # the redelivered 150 are not counted as inserted
    assert stats.committed_messages == 750
    # The Processor ran in the workers; its counts reached the bridge's registry.
    assert _processed(metrics, "decoded") == 750


def test_a_poison_message_is_bisected_out_inside_a_worker(database: str, tmp_path: Path) -> None:
    stream = [uplink(i) for i in range(64)]
    stream.insert(21, uplink(1000, device=POISON_DEVICE))
    with (
        pool_for(database) as pool,
        worker_pool(database, workers=1, poison=True) as workers,
        running_service(pool, tmp_path, batch_size=100, workers=workers) as service,
    ):
        service.accept(stream)
        wait_for(lambda: drained(service, 65), what="65 messages committed")
        stats = service.stats
    assert count(database, "SELECT count(*) FROM uplinks") == 64
    assert count(database, "SELECT count(*) FROM dead_letters WHERE stage = 'store'") == 1
    assert stats.bisections >= 6  # 65 -> ... -> 1
    assert stats.dead_letters == 1


def test_a_worker_killed_mid_drain_is_replaced_and_nothing_is_lost_or_doubled(
    database: str, tmp_path: Path
) -> None:
    n = 4000
    stream = [uplink(i) for i in range(n)]
    with (
        pool_for(database) as pool,
        worker_pool(database) as workers,
        running_service(pool, tmp_path, batch_size=50, workers=workers) as service,
    ):
        service.accept(stream)
        wait_for(lambda: service.stats.committed_messages > 0, what="a first batch")
        victims = [
            p
            for p in psutil.Process().children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
        ]
        assert len(victims) == 2
        os.kill(victims[0].pid, signal.SIGKILL)
        wait_for(lambda: drained(service, n), timeout=60, what=f"{n} messages committed")
        stats = service.stats
    assert stats.committed_messages == n
    assert stats.retries >= 1, "the batches in flight on the dead worker were retried"
    assert count(database, "SELECT count(*) FROM uplinks") == n
    assert count(database, "SELECT count(DISTINCT deduplication_id) FROM uplinks") == n
    assert count(database, "SELECT count(*) FROM measurements") == 3 * n


@pytest.mark.parametrize("retriable", [True, False])
def test_a_worker_failure_says_whether_it_is_retried(retriable: bool) -> None:
    assert is_retriable(WorkerFailed("OperationalError: connection refused", retriable)) is (
        retriable
    )
