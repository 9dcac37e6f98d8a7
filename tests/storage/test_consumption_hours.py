"""Hour buckets of icone_consumption (migration 0004), in both storage modes: the edge
readings found near the window or far from it, and a fleet large enough for the per-metric
register lookup. Times are UTC; in June Europe/Paris is UTC+2 (bucket labels are local).
"""

from __future__ import annotations

from datetime import timedelta

import psycopg

from tests.storage.helpers import add_device, figures, put, refresh, utc

WATER = "water_volume_index"
FAR_BOTH = "a000000000000001"  # edges 34 h before and 48 h after the window
NEAR_BOTH = "b000000000000002"  # edges 30 min each side
FAR_BEFORE = "c000000000000003"  # edge 34 h before, 1 h after
NO_BEFORE = "d000000000000004"  # first reading ever inside the window


def _conn(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def test_edge_readings_near_and_far_from_the_window(store: str) -> None:
    with _conn(store) as conn:
        for dev in (FAR_BOTH, NEAR_BOTH, FAR_BEFORE, NO_BEFORE):
            add_device(conn, dev)
        # 84 over 84 h: 1 per hour
        put(conn, FAR_BOTH, WATER, [(utc("2025-06-08 00:00"), 100), (utc("2025-06-11 12:00"), 184)])
        # 30 over 3 h: 10 per hour
        put(conn, NEAR_BOTH, WATER, [(utc("2025-06-09 09:30"), 0), (utc("2025-06-09 12:30"), 30)])
        # 37 over 37 h: 1 per hour
        put(conn, FAR_BEFORE, WATER, [(utc("2025-06-08 00:00"), 0), (utc("2025-06-09 13:00"), 37)])
        # 3 over 10:30-11:30: half in each hour; nothing before it to take a delta from
        put(conn, NO_BEFORE, WATER, [(utc("2025-06-09 10:30"), 5), (utc("2025-06-09 11:30"), 8)])
        refresh(conn)
        hourly = figures(conn, "2025-06-09 10:00", "2025-06-09 12:00", "hour")
    per_hour = {FAR_BOTH: 1, NEAR_BOTH: 10, FAR_BEFORE: 1, NO_BEFORE: 1.5}
    assert hourly == {
        (label, dev): q
        for dev, q in per_hour.items()
        for label in ("2025-06-09 12", "2025-06-09 13")
    }


def test_large_site_counts_its_own_registers_only(store: str) -> None:
    # 110 devices: above the number from which registers are looked up per metric
    big = [f"e{i:015d}" for i in range(110)]
    small = [f"f{i:015d}" for i in range(10)]
    start = utc("2025-06-09 10:00")
    with _conn(store) as conn:
        for i, dev in enumerate(big + small):
            add_device(conn, dev, "site-big" if dev in big else "site-small")
            # i + 1 over the hour 10:00-11:00
            put(conn, dev, WATER, [(start, 1000), (start + timedelta(hours=1), 1001 + i)])
        refresh(conn)
        big_site = figures(
            conn, "2025-06-09 10:00", "2025-06-09 11:00", "hour", site_id="site-big", metric=WATER
        )
        fleet = figures(conn, "2025-06-09 10:00", "2025-06-09 11:00", "hour")
    label = "2025-06-09 12"
    expected = {(label, dev): i + 1 for i, dev in enumerate(big + small)}
    assert big_site == {k: q for k, q in expected.items() if k[1] in big}
    assert fleet == expected
