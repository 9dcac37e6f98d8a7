"""Aggregates equal raw-data GROUP BYs, whether rows are materialized or real-time."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from tests.storage.fixture_data import DAYS, START, load
from tests.storage.helpers import refresh

RAW_HOURLY = """
SELECT date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', dev_eui, metric, channel,
       count(*), min(value), max(value), round(avg(value)::numeric, 9), round(sum(value)::numeric, 9),
       (array_agg(value ORDER BY time))[1], min(time),
       (array_agg(value ORDER BY time DESC))[1], max(time)
FROM measurements GROUP BY 1, 2, 3, 4 ORDER BY 2, 3, 4, 1
"""
RAW_DAILY = RAW_HOURLY.replace(
    "date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "date_trunc('day', time AT TIME ZONE 'Europe/Paris') AT TIME ZONE 'Europe/Paris'",
)
AGG = """
SELECT bucket, dev_eui, metric, channel, n, min_v, max_v, round(avg_v::numeric, 9),
       round(sum_v::numeric, 9), first_v, first_t, last_v, last_t
FROM {view} ORDER BY 2, 3, 4, 1
"""


def test_rollups_match_raw_rows(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        load(conn)
        # nothing materialized: everything comes from the real-time part
        assert conn.execute(AGG.format(view="measurements_hourly")).fetchall() == (
            conn.execute(RAW_HOURLY).fetchall()
        )
        refresh(conn, START)
        # half of it rewritten afterwards, and refreshed for that range only
        conn.execute(
            "UPDATE measurements SET value = value + 1 WHERE metric = 'temperature' AND time > %s",
            (START + timedelta(days=DAYS // 2),),
        )
        refresh(conn, START + timedelta(days=DAYS // 2))
        hourly = conn.execute(AGG.format(view="measurements_hourly")).fetchall()
        daily = conn.execute(AGG.format(view="measurements_daily")).fetchall()
        assert hourly == conn.execute(RAW_HOURLY).fetchall()
        assert daily == conn.execute(RAW_DAILY).fetchall()
    assert len(daily) == 3 * (DAYS + 1)  # 3 registers, the UTC span touches 7 local days
