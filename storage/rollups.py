"""Refresh of the hourly/daily aggregates, in either storage mode.

TimescaleDB: continuous aggregates refresh themselves on a policy (7-day window) and show the
newest buckets in real time; this call materializes older late rows at once. Plain
PostgreSQL: `icone_refresh_rollups` re-materializes the rollup tables from `since`.
The ingest path calls `refresh_rollups` after storing rows older than the current hour, and
the maintenance job calls it periodically.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq

from storage.errors import StorageError
from storage.migrate import StorageMode, storage_mode

logger = logging.getLogger(__name__)


def refresh_rollups(
    conn: psycopg.Connection[Any],
    since: datetime,
    until: datetime | None = None,
    dev_euis: list[str] | None = None,
) -> None:
    """Bring `measurements_hourly` / `measurements_daily` up to date from `since`.

    In TimescaleDB mode the connection must not be inside a transaction (CALL
    refresh_continuous_aggregate refuses to run in one); `dev_euis` narrows the work in plain
    mode only (a cagg refresh is per time range).
    """
    try:
        mode = storage_mode(conn)
        if mode is StorageMode.TIMESCALE:
            _refresh_caggs(conn, since, until)
        elif mode is StorageMode.PLAIN:
            with conn.transaction():
                row = conn.execute(
                    "SELECT icone_refresh_rollups(%s, %s, %s)", (since, until, dev_euis)
                ).fetchone()
            logger.info(
                "rollups refreshed",
                extra={"since": since.isoformat(), "rows": row[0] if row else 0},
            )
        else:
            raise StorageError("the schema is not migrated")
    except psycopg.Error as exc:
        raise StorageError(f"rollup refresh from {since.isoformat()} failed: {exc}") from exc


def _refresh_caggs(conn: psycopg.Connection[Any], since: datetime, until: datetime | None) -> None:
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise StorageError("refresh_rollups needs a connection outside any transaction")
    previous = conn.autocommit
    conn.autocommit = True
    try:
        # hourly first: the daily aggregate is computed from it. A cagg refresh only
        # materializes buckets wholly inside the window: widen it to bucket boundaries, but
        # never below the retention horizon (re-deriving from deleted rows empties buckets).
        for view, width, horizon in (
            ("measurements_hourly", "hour", "raw_horizon"),
            ("measurements_daily", "day", "hourly_horizon"),
        ):
            conn.execute(
                """
                CALL refresh_continuous_aggregate(%(view)s::regclass,
                    greatest(icone_bucket_start(%(width)s, %(since)s),
                             icone_bucket_ceil(%(width)s, icone_state(%(horizon)s))),
                    icone_bucket_ceil(%(width)s, %(until)s))
                """,
                {"view": view, "width": width, "since": since, "until": until, "horizon": horizon},
            )
    finally:
        conn.autocommit = previous
    logger.info("continuous aggregates refreshed", extra={"since": since.isoformat()})
