"""Periodic storage maintenance, scheduled by the bridge process (both storage modes).

One run: partitions for the coming months (plain mode), the metric-kind table in step with
the vocabulary, rollups refreshed over the accepted lateness, retention applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from storage.consumption import sync_metric_kinds
from storage.errors import StorageError
from storage.migrate import StorageMode, storage_mode
from storage.retention import RetentionPolicy, RetentionResult, apply_retention
from storage.rollups import refresh_rollups

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    mode: StorageMode
    partitions_created: int
    metric_kinds_changed: int
    retention: list[RetentionResult] = field(default_factory=list)


def run_maintenance(
    conninfo: str,
    policy: RetentionPolicy,
    now: datetime,
    *,
    months_ahead: int = 3,
    lateness: timedelta = timedelta(days=7),
) -> MaintenanceReport:
    """One maintenance pass as of `now`; safe to run concurrently with ingest and repeatedly."""
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            mode = storage_mode(conn)
            if mode is None:
                raise StorageError("the schema is not migrated")
            created = 0
            if mode is StorageMode.PLAIN:
                row = conn.execute(
                    "SELECT icone_ensure_partitions_ahead(%s, %s)", (now, months_ahead)
                ).fetchone()
                created = int(row[0]) if row else 0
            changed = sync_metric_kinds(conn)
            refresh_rollups(conn, now - lateness)
            results = apply_retention(conn, policy, now)
    except psycopg.Error as exc:
        raise StorageError(f"maintenance failed: {exc}") from exc
    report = MaintenanceReport(mode, created, changed, results)
    logger.info(
        "storage maintenance done",
        extra={"mode": str(mode), "partitions_created": created, "metric_kinds_changed": changed},
    )
    return report
