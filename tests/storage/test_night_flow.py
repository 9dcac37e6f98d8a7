"""icone_night_flow / icone_night_flow_high (docs/domain.md §4.2 leak rule 2) against hand-computed
figures, in both storage modes.

Readings are hourly, on the hour, so each delta falls in one hour bucket; `flows` gives the
consumption (m³) of the UTC hour starting at each reading. In June Europe/Paris is UTC+2: the
night of 2025-06-11 (01:00-05:00 local) is 2025-06-10 23:00Z - 2025-06-11 03:00Z.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.storage.helpers import add_device, put, refresh, utc

WATER = "water_volume_index"
LEAK = "a000000000000001"
ZERO_HOUR = "a000000000000002"
ONE_NIGHT = "a000000000000003"
SWAP = "a000000000000004"
OTHER_SITE = "b000000000000005"
SPRING = "c000000000000006"
AUTUMN = "c000000000000007"
HOUR = timedelta(hours=1)


def _meter(
    conn: psycopg.Connection[Any],
    dev: str,
    start: datetime,
    end: datetime,
    flow: Callable[[datetime], float],
    base: float = 100.0,
) -> float:
    """Hourly register readings from `start` to `end` (inclusive); `flow(t)` is the
    consumption of the hour starting at t. Returns the last index."""
    readings, value, t = [], base, start
    while t <= end:
        readings.append((t, round(value, 3)))
        value += flow(t)
        t += HOUR
    put(conn, dev, WATER, readings)
    return readings[-1][1]


def _nights(
    conn: psycopg.Connection[Any], until: date, nights: int = 2, site: str | None = None
) -> dict[tuple[str, str], tuple[float, int, int, str]]:
    rows = conn.execute(
        "SELECT night, dev_eui, min_flow, hours, window_hours, unit "
        "FROM icone_night_flow(%s, %s, %s)",
        (until, nights, site),
    ).fetchall()
    return {(str(n), d): (round(f, 9), h, w, u) for n, d, f, h, w, u in rows}


def _flagged(
    conn: psycopg.Connection[Any], until: date, threshold: float = 0.001, nights: int = 2
) -> dict[str, float]:
    rows = conn.execute(
        "SELECT dev_eui, lowest_min_flow FROM icone_night_flow_high(%s, %s, %s)",
        (until, threshold, nights),
    ).fetchall()
    return {d: round(f, 9) for d, f in rows}


def test_leak_zero_hour_one_night_and_swap(store: str) -> None:
    start, end = utc("2025-06-10 20:00"), utc("2025-06-12 06:00")
    zero_hour = utc("2025-06-12 01:00")  # 03:00 local on the night of the 12th
    swap_at = utc("2025-06-11 00:30")  # 02:30 local on the night of the 11th
    with psycopg.connect(store, autocommit=True) as conn:
        for dev in (LEAK, ZERO_HOUR, ONE_NIGHT, SWAP):
            add_device(conn, dev, "site-a")
        add_device(conn, OTHER_SITE, "site-b")
        _meter(conn, LEAK, start, end, lambda t: 0.010)
        _meter(conn, OTHER_SITE, start, end, lambda t: 0.010)
        _meter(conn, ZERO_HOUR, start, end, lambda t: 0.0 if t == zero_hour else 0.010)
        # installed after the first night: only the second one has figures
        _meter(conn, ONE_NIGHT, utc("2025-06-11 12:00"), end, lambda t: 0.020)
        # 20 L/h; the water is shut at 00:00Z for the swap at 00:30Z and reopened on the new
        # meter (initial index 50): 10 L between the swap and 01:00Z, so that hour used 10 L
        old_final = _meter(conn, SWAP, start, utc("2025-06-11 00:00"), lambda t: 0.020)
        conn.execute(
            "INSERT INTO meter_swaps (dev_eui, metric, swapped_at, old_final_index, "
            "new_initial_index, recorded_by) VALUES (%s, %s, %s, %s, 50, 'tech-1')",
            (SWAP, WATER, swap_at, old_final),
        )
        _meter(conn, SWAP, utc("2025-06-11 01:00"), end, lambda t: 0.020, base=50.010)
        refresh(conn)
        nights = _nights(conn, date(2025, 6, 12))
        site_a = _nights(conn, date(2025, 6, 12), site="site-a")
        flagged = _flagged(conn, date(2025, 6, 12))
        first_night_only = _flagged(conn, date(2025, 6, 11), nights=1)
    full = (4, 4, "m³/h")
    assert nights == {
        ("2025-06-11", LEAK): (0.01, *full),
        ("2025-06-12", LEAK): (0.01, *full),
        ("2025-06-11", OTHER_SITE): (0.01, *full),
        ("2025-06-12", OTHER_SITE): (0.01, *full),
        ("2025-06-11", ZERO_HOUR): (0.01, *full),
        ("2025-06-12", ZERO_HOUR): (0.0, *full),
        ("2025-06-12", ONE_NIGHT): (0.02, *full),
        # without the technician's record, 100.08 -> 50.01 would read as a reset (50.01 m³)
        ("2025-06-11", SWAP): (0.01, *full),
        ("2025-06-12", SWAP): (0.02, *full),
    }
    assert site_a == {k: v for k, v in nights.items() if k[1] != OTHER_SITE}
    assert flagged == {LEAK: 0.01, OTHER_SITE: 0.01, SWAP: 0.01}
    assert first_night_only == {LEAK: 0.01, OTHER_SITE: 0.01, ZERO_HOUR: 0.01, SWAP: 0.01}


def _spring(t: datetime) -> float:
    # night of 03-29 (CET, 00:00Z-04:00Z) and of 03-30 (00:00Z-03:00Z: 02:00 local is
    # skipped); every hour outside those windows uses nothing
    return {
        utc("2025-03-29 00:00"): 0.03,
        utc("2025-03-29 01:00"): 0.05,
        utc("2025-03-29 02:00"): 0.04,
        utc("2025-03-29 03:00"): 0.06,
        utc("2025-03-30 00:00"): 0.03,
        utc("2025-03-30 01:00"): 0.02,  # 03:00 CEST
        utc("2025-03-30 02:00"): 0.04,  # 04:00 CEST; 03:00Z is 05:00 CEST, outside
    }.get(t, 0.0)


def _autumn(t: datetime) -> float:
    # night of 10-25 (CEST, 10-24 23:00Z-03:00Z) and of 10-26 (10-25 23:00Z-04:00Z: 02:00
    # local happens twice, 00:00Z CEST and 01:00Z CET)
    return {
        utc("2025-10-24 23:00"): 0.03,
        utc("2025-10-25 00:00"): 0.03,
        utc("2025-10-25 01:00"): 0.03,
        utc("2025-10-25 02:00"): 0.03,
        utc("2025-10-25 23:00"): 0.05,
        utc("2025-10-26 00:00"): 0.04,
        utc("2025-10-26 01:00"): 0.02,
        utc("2025-10-26 02:00"): 0.03,
        utc("2025-10-26 03:00"): 0.06,
    }.get(t, 0.0)


def test_dst_nights_are_three_and_five_hours(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        add_device(conn, SPRING)
        add_device(conn, AUTUMN)
        _meter(conn, SPRING, utc("2025-03-28 20:00"), utc("2025-03-30 08:00"), _spring)
        _meter(conn, AUTUMN, utc("2025-10-24 18:00"), utc("2025-10-26 08:00"), _autumn)
        refresh(conn)
        spring = _nights(conn, date(2025, 3, 30))
        autumn = _nights(conn, date(2025, 10, 26))
        flagged = {**_flagged(conn, date(2025, 3, 30)), **_flagged(conn, date(2025, 10, 26))}
    assert spring == {
        ("2025-03-29", SPRING): (0.03, 4, 4, "m³/h"),
        ("2025-03-30", SPRING): (0.02, 3, 3, "m³/h"),
    }
    assert autumn == {
        ("2025-10-25", AUTUMN): (0.03, 4, 4, "m³/h"),
        ("2025-10-26", AUTUMN): (0.02, 5, 5, "m³/h"),
    }
    assert flagged == {SPRING: 0.02, AUTUMN: 0.02}


def test_incomplete_night_is_not_flagged(store: str) -> None:
    # the meter stops reporting at 02:00Z (04:00 local): the last hour of the second night
    # has no figure, so its minimum cannot be established
    with psycopg.connect(store, autocommit=True) as conn:
        add_device(conn, LEAK)
        _meter(conn, LEAK, utc("2025-06-10 20:00"), utc("2025-06-12 02:00"), lambda t: 0.010)
        refresh(conn)
        nights = _nights(conn, date(2025, 6, 12))
        flagged = _flagged(conn, date(2025, 6, 12))
    assert nights == {
        ("2025-06-11", LEAK): (0.01, 4, 4, "m³/h"),
        ("2025-06-12", LEAK): (0.01, 3, 4, "m³/h"),
    }
    assert flagged == {}


def test_rejects_no_nights(store: str) -> None:
    with (
        psycopg.connect(store, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InvalidParameterValue),
    ):
        conn.execute("SELECT * FROM icone_night_flow('2025-06-12', 0)")
