"""The ingest service: stores batches from the bridge, durably and idempotently."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from psycopg_pool import ConnectionPool

from ingest_service.errors import StorageError
from ingest_service.records import Batch
from ingest_service.writer import WriteCounts, write_batch

logger = logging.getLogger(__name__)


class Ingestor:
    """Writes batches through a connection pool, retrying with capped exponential backoff.

    `store` returns only once the batch is committed, so the caller may then acknowledge
    the MQTT messages it came from; it raises StorageError when the deadline passes.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        max_retry_s: float = 60.0,
        base_delay_s: float = 0.1,
        max_delay_s: float = 5.0,
    ) -> None:
        self._pool = pool
        self._max_retry_s = max_retry_s
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s

    def store(self, batch: Batch) -> WriteCounts:
        deadline = time.monotonic() + self._max_retry_s
        attempt = 0
        while True:
            try:
                with self._pool.connection() as conn:
                    return write_batch(conn, batch)
            except (StorageError, OSError) as exc:
                attempt += 1
                delay = min(self._max_delay_s, self._base_delay_s * 2**attempt)
                delay *= random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not cryptography
                if time.monotonic() + delay > deadline:
                    raise StorageError(f"giving up after {attempt} attempts: {exc}") from exc
                logger.warning(
                    "store failed (attempt %d), retrying in %.2f s: %s", attempt, delay, exc
                )
                time.sleep(delay)
