"""The maintenance loop that `icone bridge` runs: a pass at start, then every interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from icone.runtime import running_maintenance
from ingest_service.writer import write_batch
from storage.records import Batch, MeasurementRow
from storage.retention import ClassHorizons, RetentionPolicy
from tests.system.helpers import count, wait_for


def test_loop_refreshes_rollups_and_applies_retention(database: str) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=60)
    with psycopg.connect(database) as conn:
        # an unregistered device counts as personal data: its raw rows expire first
        write_batch(
            conn,
            Batch(
                measurements=[
                    MeasurementRow(old, "ec0e0000000000ff", "temperature", "", 21.0),
                    MeasurementRow(
                        now - timedelta(hours=2), "ec0e0000000000ff", "temperature", "", 22.0
                    ),
                ]
            ),
        )
    policy = RetentionPolicy(
        raw=ClassHorizons(timedelta(days=30), timedelta(days=30)),
        hourly=ClassHorizons(timedelta(days=400), timedelta(days=400)),
    )
    with running_maintenance(database, policy, interval_s=3600):
        wait_for(
            lambda: count(database, "SELECT count(*) FROM measurements") == 1,
            what="the 60-day-old personal reading removed",
        )
        wait_for(
            lambda: (
                count(
                    database,
                    "SELECT count(*) FROM measurements_hourly WHERE dev_eui = 'ec0e0000000000ff'",
                )
                >= 1
            ),
            what="the recent reading rolled up",
        )
