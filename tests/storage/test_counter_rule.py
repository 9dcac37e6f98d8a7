"""The counter rule (migration 0006) against hand-computed figures, in both storage modes.

Each scenario is one register read every hour on the hour, so each step's consumption lands
whole in the hour bucket where it starts (hand-written below, step by step); days and months
are the sums of those hours by Europe/Paris date. Every scenario runs twice, on its own
device each time: across the October 2025 DST change (Sunday 26 October, a 25-hour day whose
02:00 happens twice) and across the end of October (month buckets split).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import class_row

from storage.consumption import consumption
from storage.data_quality import OBSERVATIONS_SQL, CounterObservation
from tests.storage.helpers import add_device, put, refresh

PARIS = ZoneInfo("Europe/Paris")
WATER, ENERGY, PULSES = "water_volume_index", "energy_active_import_index", "pulse_count"
# first reading of each placement: 23:00 Paris time on Saturday 25 October (CEST), and
# 22:00 on Friday 31 October (CET)
PLACEMENTS = {
    "dst": datetime(2025, 10, 25, 21, 0, tzinfo=UTC),
    "month_end": datetime(2025, 10, 31, 21, 0, tzinfo=UTC),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    metric: str
    channel: str
    values: tuple[float, ...]  # one reading per hour from the placement's start
    # consumption of each hour bucket, by hour index from the start (hand-computed)
    hours: dict[int, float]
    # (hour index of the step's end, kind, previous, value, size) of each observation
    observations: tuple[tuple[float, str, float, float, float | None], ...] = ()
    modulus_digits: int | None = None
    swap: tuple[float, float, float] | None = None  # (hour index, old final, new initial)


SCENARIOS = (
    Scenario(
        "one_litre_step_back",
        WATER,
        "",
        (100.000, 100.010, 100.009, 100.020),
        {0: 0.010, 1: -0.001, 2: 0.011},
        ((2, "step_back", 100.010, 100.009, -0.001),),
    ),
    Scenario(
        "backflow_then_forward",
        WATER,
        "",
        (200.000, 199.998, 199.996, 199.995, 200.010, 200.020),
        {0: -0.002, 1: -0.002, 2: -0.001, 3: 0.015, 4: 0.010},
        (
            (1, "step_back", 200.000, 199.998, -0.002),
            (2, "step_back", 199.998, 199.996, -0.002),
            (3, "step_back", 199.996, 199.995, -0.001),
        ),
    ),
    Scenario(
        "reset_near_zero",
        WATER,
        "",
        (1499.240, 1499.300, 0.005, 0.020),
        {0: 0.060, 1: 0.005, 2: 0.015},
        ((2, "reset", 1499.300, 0.005, 0.005),),
    ),
    Scenario(
        "five_digit_rollover",
        ENERGY,
        "BASE",
        (99990, 99998, 3, 12),
        {0: 8, 1: 5, 2: 9},  # 99,998 -> 100,000 -> 3
        ((2, "rollover", 99998, 3, 5),),
        modulus_digits=5,
    ),
    Scenario(
        "recorded_swap",
        WATER,
        "",
        (500, 510, 3, 7),
        # 500 -> 510; 510 -> 512 (old meter's final index at 01:30) + 0 -> 3 (new meter)
        {0: 10, 1: 5, 2: 4},
        ((1.5, "swap", 512, 0, None),),
        swap=(1.5, 512, 0),
    ),
    Scenario(
        "pulse_reader_restart",
        PULSES,
        "A",
        (12345, 12400, 4, 30),
        {0: 55, 1: 4, 2: 26},
        ((2, "reset", 12400, 4, 4),),
    ),
    Scenario(
        "linky_never_decreases",
        ENERGY,
        "BASE",
        (5000, 5001.5, 5001.5, 5003),
        {0: 1.5, 1: 0, 2: 1.5},
    ),
)


def _device(i: int, placement: str) -> str:
    return f"c0{list(PLACEMENTS).index(placement):02x}{i:012x}"


def _load(conn: psycopg.Connection[Any]) -> None:
    for i, s in enumerate(SCENARIOS):
        for placement, start in PLACEMENTS.items():
            dev = _device(i, placement)
            add_device(conn, dev)
            put(
                conn,
                dev,
                s.metric,
                [(start + timedelta(hours=h), v) for h, v in enumerate(s.values)],
                s.channel,
            )
            if s.modulus_digits is not None:
                conn.execute(
                    "INSERT INTO counter_registers (dev_eui, metric, channel, register_digits) "
                    "VALUES (%s, %s, %s, %s)",
                    (dev, s.metric, s.channel, s.modulus_digits),
                )
            if s.swap is not None:
                at, old_final, new_initial = s.swap
                conn.execute(
                    "INSERT INTO meter_swaps (dev_eui, metric, channel, swapped_at, "
                    "old_final_index, new_initial_index, recorded_by) "
                    "VALUES (%s, %s, %s, %s, %s, %s, 'tech-1')",
                    (dev, s.metric, s.channel, start + timedelta(hours=at), old_final, new_initial),
                )


def _expected(bucket: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = defaultdict(float)
    for i, s in enumerate(SCENARIOS):
        for placement, start in PLACEMENTS.items():
            for h, q in s.hours.items():
                out[(_device(i, placement), _label(bucket, start + timedelta(hours=h)))] += q
    return {k: round(v, 9) for k, v in out.items()}


def _label(bucket: str, t: datetime) -> str:
    if bucket == "hour":
        return t.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")  # Paris hours repeat at DST
    return t.astimezone(PARIS).strftime("%Y-%m-%d" if bucket == "day" else "%Y-%m")


def _figures(conn: psycopg.Connection[Any], bucket: str) -> dict[tuple[str, str], float]:
    start, end = datetime(2025, 10, 20, tzinfo=UTC), datetime(2025, 11, 5, tzinfo=UTC)
    rows = consumption(conn, start, end, bucket)  # type: ignore[arg-type]
    return {(r.dev_eui, _label(bucket, r.bucket)): round(r.consumption, 9) for r in rows}


def test_every_scenario_in_hour_day_and_month_buckets(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        _load(conn)
        before = {b: _figures(conn, b) for b in ("hour", "day", "month")}  # nothing rolled up
        refresh(conn)
        after = {b: _figures(conn, b) for b in ("hour", "day", "month")}
    for bucket in ("hour", "day", "month"):
        assert after[bucket] == _expected(bucket), bucket
        assert before[bucket] == after[bucket], bucket
    # the DST day: 25 hours, all of the first placement's steps but the first
    assert after["day"][(_device(0, "dst"), "2025-10-26")] == round(-0.001 + 0.011, 9)
    # the month end: 22:00 and 23:00 Paris on 31 October, then 00:00 on 1 November
    assert after["month"][(_device(2, "month_end"), "2025-10")] == round(0.060 + 0.005, 9)
    assert after["month"][(_device(2, "month_end"), "2025-11")] == 0.015


def test_observations_have_the_figures_kinds_and_sizes(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        _load(conn)
        refresh(conn)
        with conn.cursor(row_factory=class_row(CounterObservation)) as cur:
            cur.execute(
                OBSERVATIONS_SQL,
                (datetime(2025, 10, 20, tzinfo=UTC), datetime(2025, 11, 5, tzinfo=UTC), None, None),
            )
            rows = cur.fetchall()
    got = {
        (
            r.dev_eui,
            r.time,
            r.kind,
            r.previous,
            r.value,
            None if r.size is None else round(r.size, 9),
        )
        for r in rows
    }
    expected = {
        (
            _device(i, placement),
            start + timedelta(hours=at),
            kind,
            previous,
            value,
            None if size is None else round(size, 9),
        )
        for i, s in enumerate(SCENARIOS)
        for placement, start in PLACEMENTS.items()
        for at, kind, previous, value, size in s.observations
    }
    assert got == expected
    assert len(rows) == len(expected)
    assert all(r.site_id == "site-a" for r in rows)


def test_observations_window_and_device_filter(store: str) -> None:
    with psycopg.connect(store, autocommit=True) as conn:
        _load(conn)
        dev = _device(1, "dst")
        start = PLACEMENTS["dst"]
        with conn.cursor(row_factory=class_row(CounterObservation)) as cur:
            # from the second step back on: the step into the window uses the reading before it
            cur.execute(
                OBSERVATIONS_SQL,
                (start + timedelta(hours=2), start + timedelta(hours=9), None, dev),
            )
            rows = cur.fetchall()
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute(OBSERVATIONS_SQL, (start, start, None, dev))
    assert [(r.kind, r.previous, r.value) for r in rows] == [
        ("step_back", 199.998, 199.996),
        ("step_back", 199.996, 199.995),
    ]


def test_night_flow_nets_backflow(store: str) -> None:
    """The night of 26 October (01:00-05:00 Paris, 5 hours: 02:00 twice) holds the backflow
    scenario's steps from its second hour on."""
    with psycopg.connect(store, autocommit=True) as conn:
        _load(conn)
        refresh(conn)
        dev = _device(1, "dst")
        row = conn.execute(
            "SELECT min_flow, hours, window_hours FROM icone_night_flow('2025-10-26', 1) "
            "WHERE dev_eui = %s",
            (dev,),
        ).fetchone()
    # hours from 23:00Z (01:00 CEST): indexes 2, 3, 4 -> -0.001, 0.015, 0.010
    assert row is not None
    assert (round(row[0], 9), row[1], row[2]) == (-0.001, 3, 5)
