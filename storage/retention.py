"""Retention by data class (docs/domain.md §6, §2.3), applied in either storage mode.

Defaults: a metering point classified `personal` (a dwelling, identifiable staff) keeps
infra-daily data (raw and hourly) 2 years and daily data 3 years (CNIL benchmarks); other
points keep raw data 3 years, hourly aggregates 5 years (décret BACS: 5 years of hourly
logging) and daily aggregates for ever (the décret tertiaire reference year, 2010-2019, is
compared against until 2050). The work is done by the SQL function `icone_apply_retention`
(whole chunks/partitions for the common horizon, DELETE per class for shorter ones).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from storage.errors import StorageError

logger = logging.getLogger(__name__)

# Aggregates are refreshed from raw rows up to this far back (the cagg policy's
# start_offset): raw horizons shorter than that would empty aggregates (timescaledb#4328).
MIN_RAW_HORIZON = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ClassHorizons:
    """How long rows are kept, per data class; None keeps them for ever."""

    personal: timedelta | None
    non_personal: timedelta | None

    def as_json(self) -> dict[str, str | None]:
        return {
            "personal": _interval(self.personal),
            "non_personal": _interval(self.non_personal),
        }


def _interval(value: timedelta | None) -> str | None:
    return None if value is None else f"{value.total_seconds():.0f} seconds"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    raw: ClassHorizons = ClassHorizons(timedelta(days=730), timedelta(days=1095))
    hourly: ClassHorizons = ClassHorizons(timedelta(days=730), timedelta(days=1826))
    daily: ClassHorizons = ClassHorizons(timedelta(days=1095), None)
    network_events: timedelta | None = timedelta(days=365)
    dead_letters: timedelta | None = timedelta(days=90)

    def __post_init__(self) -> None:
        for name in ("personal", "non_personal"):
            raw = getattr(self.raw, name)
            if raw is not None and raw < MIN_RAW_HORIZON:
                raise ValueError(f"raw {name} retention {raw} is shorter than {MIN_RAW_HORIZON}")
            hourly = getattr(self.hourly, name)
            if hourly is not None and (raw is None or hourly < raw):
                # the daily rollup is re-derived from hourly rows: keep them at least as long
                raise ValueError(f"hourly {name} retention must be >= raw retention")

    def as_json(self) -> dict[str, Any]:
        return {
            "raw": self.raw.as_json(),
            "hourly": self.hourly.as_json(),
            "daily": self.daily.as_json(),
            "network_events": _interval(self.network_events),
            "dead_letters": _interval(self.dead_letters),
        }


@dataclass(frozen=True, slots=True)
class RetentionResult:
    target: str  # table or aggregate name
    data_class: str  # all | personal | non_personal
    cutoff: datetime
    rows_removed: int


def apply_retention(
    conn: psycopg.Connection[Any], policy: RetentionPolicy, now: datetime
) -> list[RetentionResult]:
    """Remove everything older than the policy allows, as of `now`, in one transaction."""
    try:
        with conn.transaction():
            rows = conn.execute(
                "SELECT target, data_class, cutoff, rows_removed "
                "FROM icone_apply_retention(%s, %s)",
                (now, Jsonb(policy.as_json())),
            ).fetchall()
    except psycopg.Error as exc:
        raise StorageError(f"retention failed: {exc}") from exc
    results = [RetentionResult(str(t), str(c), cut, int(n)) for t, c, cut, n in rows]
    for r in results:
        if r.rows_removed:
            logger.info(
                "retention removed rows",
                extra={"target": r.target, "data_class": r.data_class, "rows": r.rows_removed},
            )
    return results


def schedule_retention(
    conn: psycopg.Connection[Any], policy: RetentionPolicy, every: timedelta = timedelta(days=1)
) -> int:
    """TimescaleDB mode: (re)register the daily retention job with this policy; its job id."""
    try:
        with conn.transaction():
            for (job_id,) in conn.execute(
                "SELECT job_id FROM timescaledb_information.jobs "
                "WHERE proc_name = 'icone_retention_job'"
            ).fetchall():
                conn.execute("SELECT delete_job(%s)", (job_id,))
            row = conn.execute(
                "SELECT add_job('icone_retention_job', %s, config => %s)",
                (every, Jsonb(policy.as_json())),
            ).fetchone()
    except psycopg.Error as exc:
        raise StorageError(f"retention job not scheduled: {exc}") from exc
    assert row is not None
    logger.info(
        "retention job scheduled", extra={"job_id": row[0], "policy": json.dumps(policy.as_json())}
    )
    return int(row[0])
