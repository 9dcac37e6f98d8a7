"""The same fixture through plain PostgreSQL and TimescaleDB gives the same figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from storage.consumption import consumption
from tests.storage.fixture_data import DAYS, START, load
from tests.storage.helpers import refresh

AGG = """
SELECT bucket, dev_eui, metric, channel, n, min_v, max_v, round(avg_v::numeric, 9),
       round(sum_v::numeric, 9), first_v, first_t, last_v, last_t
FROM {view} ORDER BY 2, 3, 4, 1
"""


def _everything(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        load(conn)
        refresh(conn, START)
        out: dict[str, Any] = {
            view: conn.execute(AGG.format(view=view)).fetchall()
            for view in ("measurements_hourly", "measurements_daily")
        }
        for bucket in ("hour", "day", "month"):
            rows = consumption(conn, START, START + timedelta(days=DAYS), bucket)
            out[bucket] = [(r.bucket, r.dev_eui, r.metric, round(r.consumption, 6)) for r in rows]
    return out


def test_fixture_covers_the_hard_cases(database: str) -> None:
    figures = _everything(database)
    days = {(b, d): q for b, d, _, q in figures["day"]}
    assert len(days) == 2 * (DAYS + 1)  # energy + water, every local day touched
    assert all(q >= 0 for q in days.values())
    hours = figures["hour"]
    assert sum(q for *_, q in hours) == pytest.approx(sum(days.values()), rel=1e-9)


@pytest.mark.timescale
def test_plain_and_timescale_give_the_same_answers(database: str, timescale_database: str) -> None:
    plain = _everything(database)
    timescale = _everything(timescale_database)
    assert plain.keys() == timescale.keys()
    for key in plain:
        assert plain[key] == timescale[key], key
