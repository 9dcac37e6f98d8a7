"""Replaying dead letters through the live path, for the CLI and for register-and-replay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg_pool import ConnectionPool

from gateway_bridge.config import BridgeConfig
from gateway_bridge.pipeline import Processor
from ingest_service.deadletters import ReplayReport, replay
from ingest_service.enrich import Enricher
from storage.registry import DeviceModels


def replay_with_registry(
    database_url: str,
    config: BridgeConfig,
    *,
    ids: Sequence[int] | None = None,
    stage: str | None = None,
) -> ReplayReport:
    """Re-run dead letters with the registry as it is now (blocking; raises StorageError or
    psycopg.Error when the database is unreachable)."""
    pool: ConnectionPool[Any] = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
    try:
        pool.wait(timeout=30)
        processor = Processor(config, DeviceModels(pool).lookup)
        return replay(pool, processor, enrich=Enricher(pool), ids=ids, stage=stage)
    finally:
        pool.close()
