"""Migration 0005: icone_consumption_hours with several windows gives, window by window, what
icone_consumption gives for each window alone, in both storage modes: on its fast path
(15-minute readings, every edge in the reach), on the general one (a swap, a meter silent
for hours), and for a register whose day rows stop before a later window (0004's
register rule, per window). Times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.storage.helpers import add_device, put, refresh, utc

WATER = "water_volume_index"
REGULAR = "a000000000000001"  # every 15 min over both windows, 7 per reading
STOPS = "b000000000000002"  # every 15 min, stops on the first day (no day row later)
SWAPPED = "c000000000000003"  # every 15 min, meter swapped inside the second window
SILENT = "d000000000000004"  # hourly, then silent for 3 h before the second window
WINDOWS = [
    (utc("2025-06-09 10:00"), utc("2025-06-09 14:00")),
    (utc("2025-06-10 10:00"), utc("2025-06-10 14:00")),
]

Row = tuple[datetime, str, str, str, float, str]


def _every_15_min(start: str, hours: int, base: float, per_reading: float) -> list[Any]:
    t0 = utc(start)
    return [(t0 + timedelta(minutes=15 * i), base + per_reading * i) for i in range(hours * 4 + 1)]


def _per_window(conn: psycopg.Connection[Any]) -> list[set[Row]]:
    alone = [
        set(
            conn.execute(
                "SELECT bucket, dev_eui, metric, channel, consumption, unit "
                "FROM icone_consumption(%s, %s, 'hour')",
                (f, t),
            ).fetchall()
        )
        for f, t in WINDOWS
    ]
    together: list[set[Row]] = [set() for _ in WINDOWS]
    for win, *row in conn.execute(
        "SELECT win, bucket, dev_eui, metric, channel, consumption, unit "
        "FROM icone_consumption_hours(%s, %s)",
        ([f for f, _ in WINDOWS], [t for _, t in WINDOWS]),
    ).fetchall():
        together[win - 1].add(tuple(row))
    assert together == alone
    return together


@pytest.mark.parametrize("general", [False, True], ids=["fast-path", "general-path"])
def test_several_windows_give_each_windows_figures(store: str, general: bool) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        for dev in (REGULAR, STOPS, SWAPPED, SILENT):
            add_device(conn, dev)
        put(conn, REGULAR, WATER, _every_15_min("2025-06-09 06:00", 36, 1000, 7))
        put(conn, STOPS, WATER, _every_15_min("2025-06-09 06:00", 12, 50, 2))
        if general:
            put(conn, SWAPPED, WATER, _every_15_min("2025-06-09 06:00", 36, 500, 1))
            conn.execute(
                "INSERT INTO meter_swaps (dev_eui, metric, swapped_at, old_final_index, "
                "new_initial_index, recorded_by) VALUES (%s, %s, %s, %s, 0, 'tech-1')",
                (SWAPPED, WATER, utc("2025-06-10 11:07"), 500 + 29 * 4 + 1.5),
            )
            # hourly until 2025-06-10 09:00, then silent until 13:00: no edge in the reach
            hourly = [(utc("2025-06-09 06:00") + timedelta(hours=h), 10.0 * h) for h in range(28)]
            put(conn, SILENT, WATER, [*hourly, (utc("2025-06-10 13:00"), 400.0)])
        refresh(conn)
        together = _per_window(conn)
    # the register rule per window: STOPS has figures in the first window only
    assert {r[1] for r in together[0]} >= {REGULAR, STOPS}
    assert STOPS not in {r[1] for r in together[1]}
    # 7 per reading, 4 readings an hour, every hour of both windows
    assert {(r[0], r[4]) for r in together[1] if r[1] == REGULAR} == {
        (utc("2025-06-10 10:00") + timedelta(hours=h), 28.0) for h in range(4)
    }
    if general:
        assert {r[1] for r in together[1]} == {REGULAR, SWAPPED, SILENT}
