"""Refresh of the hourly/daily aggregates, in either storage mode.

TimescaleDB: continuous aggregates refresh themselves on a policy (7-day window) and show the
newest buckets in real time; this call materializes older late rows at once. Plain
PostgreSQL: `icone_refresh_rollups` re-materializes the rollup tables from `since`.
Either way a refresh never materializes the newest `icone_rollup_margin()`, also covers the
device-days of `rollup_invalidations` (late rows: day and month figures read them from raw
readings until then), and clears the invalidations of the refresh epochs before its own
(migration 0006 explains why that cannot lose a row written meanwhile). Then the figure cache
of the indicators follows (migration 0012). The maintenance job calls it periodically.
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
        refresh_figure_cache(conn)
    except psycopg.Error as exc:
        raise StorageError(f"rollup refresh from {since.isoformat()} failed: {exc}") from exc


def refresh_figure_cache(conn: psycopg.Connection[Any]) -> int:
    """Move the figure and thermal caches' horizons up to the settled readings (migration
    0012), then the sites' settled days up to their meters' horizons (0018); returns the
    rows written. Runs after the rollups, whose daily rows it reads."""
    with conn.transaction():
        row = conn.execute(
            "SELECT icone_refresh_figure_cache() + icone_refresh_thermal_cache()"
        ).fetchone()
        sites = conn.execute("SELECT icone_refresh_site_days()").fetchone()  # reads the above
    written = (int(row[0]) if row else 0) + (int(sites[0]) if sites else 0)
    logger.info("figure cache refreshed", extra={"rows": written})
    return written


def _refresh_caggs(conn: psycopg.Connection[Any], since: datetime, until: datetime | None) -> None:
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise StorageError("refresh_rollups needs a connection outside any transaction")
    previous = conn.autocommit
    conn.autocommit = True
    try:
        # a new refresh epoch: the invalidations of older ones are this refresh's (0006)
        row = conn.execute("SELECT icone_begin_rollup_refresh()").fetchone()
        assert row is not None
        epoch = row[0]
        listed = conn.execute(
            "SELECT min(day) FROM rollup_invalidations WHERE epoch < %s", (epoch,)
        ).fetchone()
        first_day = listed[0] if listed else None
        start = since if first_day is None else min(since, first_day)
        # hourly first: the daily aggregate is computed from it. A cagg refresh only
        # materializes buckets wholly inside the window: widen it to bucket boundaries, but
        # never below the retention horizon (re-deriving from deleted rows empties buckets)
        # nor into the newest margin.
        for view, width, horizon in (
            ("measurements_hourly", "hour", "raw_horizon"),
            ("measurements_daily", "day", "hourly_horizon"),
        ):
            bounds = conn.execute(
                """
                SELECT greatest(icone_bucket_start(%(width)s, %(start)s),
                                icone_bucket_ceil(%(width)s, icone_state(%(horizon)s))),
                       least(icone_bucket_ceil(%(width)s, %(until)s),
                             icone_bucket_start(%(width)s, now() - icone_rollup_margin()))
                """,
                {"width": width, "start": start, "until": until, "horizon": horizon},
            ).fetchone()
            assert bounds is not None
            lo, hi = bounds
            if lo < hi:
                conn.execute(
                    "CALL refresh_continuous_aggregate(%s::regclass, %s, %s)", (view, lo, hi)
                )
        # cleared: the invalidations of older epochs. Without `until`, all of them: the hours
        # of each day are now materialized (the window starts at its day) or newer than the
        # window (real-time), and so is its day, or the day is newer than the daily window
        # (real-time, from the hourly aggregate); below a retention horizon nothing is
        # re-derived from raw rows, on purpose. With `until`, the days before it only.
        conn.execute(
            """
            DELETE FROM rollup_invalidations
            WHERE epoch < %(epoch)s
              AND (%(until)s::timestamptz IS NULL
                   OR icone_bucket_next('day', day) <= icone_bucket_start('day', %(until)s))
            """,
            {"epoch": epoch, "until": until},
        )
    finally:
        conn.autocommit = previous
    logger.info("continuous aggregates refreshed", extra={"since": since.isoformat()})
