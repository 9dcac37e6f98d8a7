"""What an ingest worker process writes with (`ingest_service.workers`), built in the worker.

A module of its own, light to import: every spawned worker imports it, not the CLI or the API.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool

from gateway_bridge.config import BridgeConfig
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Processor
from icone import gc_tuning, logs
from ingest_service.batch_writer import BatchWriter
from ingest_service.enrich import Enricher
from ingest_service.workers import WorkerParts
from storage.registry import DeviceModels


def build(config: BridgeConfig, database_url: str, log_level: str, log_json: bool) -> WorkerParts:
    """The bridge's Processor, registry and enrichment over a small pool of this process."""
    logs.configure(log_level, log_json)
    # Lives as long as the worker process; opening does not wait for the database (a worker
    # started during an outage retries like the bridge does).
    pool: ConnectionPool[Any] = ConnectionPool(
        database_url, min_size=1, max_size=2, open=True, check=ConnectionPool.check_connection
    )
    metrics = BridgeMetrics()
    parts = WorkerParts(batch_writer(pool, config, metrics), metrics.processor_totals)
    gc_tuning.tune_for_throughput()
    return parts


def batch_writer(
    pool: ConnectionPool[Any], config: BridgeConfig, metrics: BridgeMetrics | None = None
) -> BatchWriter:
    """What drains the spool: the bridge's Processor (registry model lookup), enrichment and
    the batch writer over `pool`."""
    processor = Processor(config, DeviceModels(pool).lookup, metrics)
    return BatchWriter(pool, processor, Enricher(pool))
