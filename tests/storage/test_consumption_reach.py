"""Hour buckets of icone_consumption (migration 0004) take the edge readings from the raw
readings of the window widened by 30 minutes each side: the extra readings there, a meter
swap among them and readings exactly on the widened bounds must change no figure. Times are
UTC; in June Europe/Paris is UTC+2 (bucket labels are local).
"""

from __future__ import annotations

import psycopg

from tests.storage.helpers import add_device, figures, put, refresh, utc

WATER = "water_volume_index"
SWAPPED = "a000000000000011"  # readings and a swap in the 30 minutes before the window
BOUNDS = "b000000000000012"  # readings exactly at window start - 30 min and at window end


def test_readings_near_the_window_change_no_figure(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        add_device(conn, SWAPPED)
        add_device(conn, BOUNDS)
        put(
            conn,
            SWAPPED,
            WATER,
            [
                (utc("2025-06-09 09:40"), 100),
                (utc("2025-06-09 09:50"), 105),
                (utc("2025-06-09 10:20"), 4),
                (utc("2025-06-09 11:00"), 8),
                (utc("2025-06-09 11:50"), 12),
                (utc("2025-06-09 12:10"), 14),
                (utc("2025-06-09 12:20"), 50),
            ],
        )
        conn.execute(
            "INSERT INTO meter_swaps (dev_eui, metric, swapped_at, old_final_index, "
            "new_initial_index, recorded_by) VALUES (%s, %s, %s, 106, 0, 'tech-1')",
            (SWAPPED, WATER, utc("2025-06-09 09:55")),
        )
        put(
            conn,
            BOUNDS,
            WATER,
            [
                (utc("2025-06-09 09:30"), 0),
                (utc("2025-06-09 11:00"), 9),
                (utc("2025-06-09 12:00"), 19),
                (utc("2025-06-09 12:29"), 25),
            ],
        )
        refresh(conn)
        hourly = figures(conn, "2025-06-09 10:00", "2025-06-09 12:00", "hour")
    # SWAPPED: new meter 0 at 09:55 -> 4 at 10:20, 20 of its 25 min in the window: 3.2;
    # 10:20 -> 11:00: 4; 11:00 -> 11:50: 4; 11:50 -> 12:10: 2, half in the window: 1.
    # BOUNDS: 09:30 -> 11:00: 9 over 90 min, 60 in the window: 6; 11:00 -> 12:00: 10.
    assert hourly == {
        ("2025-06-09 12", SWAPPED): 7.2,
        ("2025-06-09 13", SWAPPED): 5,
        ("2025-06-09 12", BOUNDS): 6,
        ("2025-06-09 13", BOUNDS): 10,
    }
