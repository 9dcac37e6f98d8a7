"""One deterministic fixture exercising every storage path, loaded into either mode."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import psycopg

from tests.storage.helpers import add_device, put, utc

GAUGE_DEV = "c000000000000003"
ENERGY_DEV = "e000000000000004"
WATER_DEV = "f000000000000005"
START = utc("2025-03-27 00:00")  # spans the spring DST change
DAYS = 6


def load(conn: psycopg.Connection[Any]) -> None:
    rng = random.Random(42)
    add_device(conn, GAUGE_DEV, "site-a")
    add_device(conn, ENERGY_DEV, "site-a")
    add_device(conn, WATER_DEV, "site-b", data_class="personal")
    conn.execute(
        "INSERT INTO counter_registers (dev_eui, metric, register_digits) VALUES (%s, %s, 6)",
        (ENERGY_DEV, "energy_active_import_index"),
    )
    steps = DAYS * 96
    temps, energy, water = [], [], []
    index, volume = 999_000.0, 10.0
    for i in range(steps):
        t = START + timedelta(minutes=15 * i, seconds=rng.randint(0, 59))
        temps.append((t, 20 + 3 * rng.random()))
        if rng.random() > 0.05:  # 5 % lost uplinks
            index = (index + rng.uniform(0, 20)) % 1_000_000  # rolls over on day 3
            energy.append((t, round(index, 3)))
        if not 200 <= i < 224:  # a 6-hour outage
            volume += rng.uniform(0, 0.05)
            water.append((t, round(volume, 4)))
    put(conn, GAUGE_DEV, "temperature", temps)
    put(conn, ENERGY_DEV, "energy_active_import_index", energy)
    put(conn, WATER_DEV, "water_volume_index", water)
    conn.execute(
        "INSERT INTO meter_swaps (dev_eui, metric, swapped_at, old_final_index, "
        "new_initial_index, recorded_by) VALUES (%s, 'water_volume_index', %s, %s, 0, 'tech')",
        (WATER_DEV, START + timedelta(days=4, hours=3, minutes=7), volume + 1),
    )
    # after the swap the new meter starts near 0: rewrite the later readings
    conn.execute(
        "UPDATE measurements SET value = value - %s WHERE dev_eui = %s AND time > %s",
        (volume - 0.5, WATER_DEV, START + timedelta(days=4, hours=3, minutes=7)),
    )
