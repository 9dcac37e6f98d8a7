"""icone_consumption against hand-computed figures, in both storage modes.

Times are UTC in the fixtures; in June Europe/Paris is UTC+2, so local midnight is 22:00Z.
Buckets in the expected dicts are local ('YYYY-MM-DD HH' of the bucket start in Paris).
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from ingest_service.writer import write_batch
from storage.consumption import consumption
from storage.records import Batch, MeasurementRow
from tests.storage.helpers import add_device, figures, put, refresh, utc

A = "a000000000000001"
B = "b000000000000002"
WATER = "water_volume_index"
ENERGY = "energy_active_import_index"


def _conn(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def test_meter_swap_uses_the_technicians_indexes(store: str) -> None:
    with _conn(store) as conn:
        add_device(conn, A)
        put(
            conn,
            A,
            WATER,
            [
                (utc("2025-06-10 08:00"), 100),
                (utc("2025-06-10 09:00"), 110),
                (utc("2025-06-10 10:00"), 4),
                (utc("2025-06-10 11:00"), 10),
            ],
        )
        conn.execute(
            "INSERT INTO meter_swaps (dev_eui, metric, swapped_at, old_final_index, "
            "new_initial_index, recorded_by) VALUES (%s, %s, %s, 115, 0, 'tech-1')",
            (A, WATER, utc("2025-06-10 09:30")),
        )
        refresh(conn)
        hourly = figures(conn, "2025-06-10 08:00", "2025-06-10 11:00", "hour")
        daily = figures(conn, "2025-06-10 00:00", "2025-06-11 00:00", "day")
    # 100->110; 110->115 (old meter, until the swap) + 0->4 (new meter); 4->10
    assert hourly == {("2025-06-10 10", A): 10, ("2025-06-10 11", A): 9, ("2025-06-10 12", A): 6}
    assert daily == {("2025-06-10 00", A): 25}


def test_unrecorded_reset_counts_from_zero(store: str) -> None:
    with _conn(store) as conn:
        add_device(conn, A)
        put(
            conn,
            A,
            WATER,
            [
                (utc("2025-06-10 08:00"), 100),
                (utc("2025-06-10 09:00"), 110),
                (utc("2025-06-10 10:00"), 4),
                (utc("2025-06-10 11:00"), 10),
            ],
        )
        refresh(conn)
        daily = figures(conn, "2025-06-10 00:00", "2025-06-11 00:00", "day")
    assert daily == {("2025-06-10 00", A): 10 + 4 + 6}


@pytest.mark.parametrize(
    ("digits", "step", "before", "after", "expected"),
    [
        (6, 1.0, [999_990, 999_998], [5, 20], 8 + 7 + 15),
        (8, 0.001, [99_999.990, 99_999.998], [0.005, 0.020], 0.008 + 0.007 + 0.015),
        (9, 1.0, [999_999_990, 999_999_998], [5, 20], 8 + 7 + 15),
    ],
)
def test_register_rollover(
    store: str, digits: int, step: float, before: list[float], after: list[float], expected: float
) -> None:
    with _conn(store) as conn:
        add_device(conn, A)
        conn.execute(
            "INSERT INTO counter_registers (dev_eui, metric, register_digits, register_step) "
            "VALUES (%s, %s, %s, %s)",
            (A, ENERGY, digits, step),
        )
        times = [utc(f"2025-06-10 {h:02d}:00") for h in (8, 9, 10, 11)]
        put(conn, A, ENERGY, zip(times, [*before, *after], strict=True))
        refresh(conn)
        daily = figures(conn, "2025-06-10 00:00", "2025-06-11 00:00", "day")
        monthly = figures(conn, "2025-06-01 00:00", "2025-07-01 00:00", "month")
    assert daily[("2025-06-10 00", A)] == pytest.approx(expected, abs=1e-6)
    assert monthly[("2025-06-01 00", A)] == pytest.approx(expected, abs=1e-6)


def test_six_hour_gap_is_spread_over_the_gap(store: str) -> None:
    with _conn(store) as conn:
        add_device(conn, A)
        # 10 per hour until 19:00Z (21:00 local), silent 6 h, then 60 more at 01:00Z next day
        readings = [(utc("2025-06-10 16:00") + timedelta(hours=i), 10.0 * i) for i in range(4)]
        readings.append((utc("2025-06-11 01:00"), 90.0))
        put(conn, A, WATER, readings)
        refresh(conn)
        hourly = figures(conn, "2025-06-10 16:00", "2025-06-11 02:00", "hour")
        daily = figures(conn, "2025-06-09 22:00", "2025-06-11 22:00", "day")
    # the 60 of the gap: 10 per hour from 19:00Z to 01:00Z, 3 h each side of local midnight
    assert hourly == {
        (f"2025-06-{d} {h:02d}", A): 10
        for d, h in [
            ("10", 18),
            ("10", 19),
            ("10", 20),
            ("10", 21),
            ("10", 22),
            ("10", 23),
            ("11", 0),
            ("11", 1),
            ("11", 2),
        ]
    }
    assert daily == {("2025-06-10 00", A): 30 + 30, ("2025-06-11 00", A): 30}


def test_reading_arriving_three_days_late(store: str) -> None:
    with _conn(store) as conn:
        add_device(conn, A)
        put(conn, A, WATER, [(utc("2025-06-10 20:00"), 0), (utc("2025-06-11 04:00"), 80)])
        refresh(conn)
        before = figures(conn, "2025-06-09 22:00", "2025-06-11 22:00", "day")
        # three days later, a history frame delivers the reading taken at local midnight
        put(conn, A, WATER, [(utc("2025-06-10 22:00"), 50)])
        hourly_at_once = figures(conn, "2025-06-10 20:00", "2025-06-11 04:00", "hour")
        refresh(conn, utc("2025-06-10 22:00"))
        after = figures(conn, "2025-06-09 22:00", "2025-06-11 22:00", "day")
    assert before == {("2025-06-10 00", A): 20, ("2025-06-11 00", A): 60}
    assert after == {("2025-06-10 00", A): 50, ("2025-06-11 00", A): 30}
    assert sum(hourly_at_once.values()) == 80
    assert hourly_at_once[("2025-06-10 22", A)] == 25  # 0 -> 50 over 20:00Z-22:00Z


def test_duplicate_redelivery_changes_nothing(store: str) -> None:
    batch = Batch(
        measurements=[
            MeasurementRow(
                utc("2025-06-10 08:00") + timedelta(minutes=15 * i),
                A,
                WATER,
                "",
                1000.0 + 2.5 * i,
            )
            for i in range(8)
        ]
    )
    with _conn(store) as conn:
        add_device(conn, A)
        first = write_batch(conn, batch)
        refresh(conn)
        once = figures(conn, "2025-06-10 00:00", "2025-06-11 00:00", "day")
        again = write_batch(conn, batch)  # the broker redelivers the whole batch
        refresh(conn)
        twice = figures(conn, "2025-06-10 00:00", "2025-06-11 00:00", "day")
    assert (first.measurements, again.measurements) == (8, 0)
    assert once == twice == {("2025-06-10 00", A): 17.5}


@pytest.mark.parametrize(
    ("day", "hours"), [("2025-03-30", 23), ("2025-10-26", 25), ("2025-03-29", 24)]
)
def test_dst_days_have_23_and_25_hours(store: str, day: str, hours: int) -> None:
    with _conn(store) as conn:
        add_device(conn, A)
        start = utc(f"{day} 00:00") - timedelta(days=1)
        put(conn, A, ENERGY, [(start + timedelta(hours=i), float(i)) for i in range(24 * 3)])
        refresh(conn)
        local_midnights = conn.execute(
            "SELECT (%s::date::timestamp AT TIME ZONE 'Europe/Paris') AT TIME ZONE 'UTC', "
            "((%s::date + 1)::timestamp AT TIME ZONE 'Europe/Paris') AT TIME ZONE 'UTC'",
            (day, day),
        ).fetchone()
        assert local_midnights is not None
        lo, hi = (str(t)[:16] for t in local_midnights)
        daily = figures(conn, lo, hi, "day")
        # (local hour labels repeat on the 25 h day: count the rows themselves)
        hourly = consumption(conn, utc(lo), utc(hi), "hour")
    assert daily == {(f"{day} 00", A): hours}
    assert len(hourly) == hours
    assert {r.consumption for r in hourly} == {1}


def test_commissioning_index_and_interval_metrics(store: str) -> None:
    with _conn(store) as conn:
        add_device(conn, A)
        add_device(conn, B)
        conn.execute(
            "INSERT INTO counter_registers (dev_eui, metric, commissioned_at, "
            "index_at_commissioning) VALUES (%s, %s, %s, 1000)",
            (A, WATER, utc("2025-06-10 06:00")),
        )
        put(conn, A, WATER, [(utc("2025-06-10 08:00"), 1012), (utc("2025-06-10 12:00"), 1030)])
        put(
            conn,
            B,
            "water_volume",
            [
                (utc("2025-06-10 08:00"), 2.5),
                (utc("2025-06-10 09:00"), 1.5),
                (utc("2025-06-11 09:00"), 4.0),
            ],
        )
        refresh(conn)
        daily = figures(conn, "2025-06-10 00:00", "2025-06-12 00:00", "day")
        site = figures(
            conn,
            "2025-06-09 22:00",
            "2025-06-10 22:00",
            "day",
            site_id="site-a",
            metric="water_volume",
        )
    assert daily == {("2025-06-10 00", A): 30, ("2025-06-10 00", B): 4.0, ("2025-06-11 00", B): 4.0}
    assert site == {("2025-06-10 00", B): 4.0}


def test_bad_bucket_is_refused(database: str) -> None:
    with _conn(database) as conn, pytest.raises(Exception, match="bucket must be"):
        figures(conn, "2025-06-10 00:00", "2025-06-11 00:00", "week")


@pytest.mark.parametrize("bucket", ["hour", "day", "month"])
def test_a_device_list_gives_those_devices_rows(store: str, bucket: str) -> None:
    """p_devs (migration 0015) narrows the devices; their rows are those of the whole call."""
    c = "c000000000000003"
    with _conn(store) as conn:
        for dev, site, step in ((A, "site-a", 10), (B, "site-a", 3), (c, "site-b", 7)):
            add_device(conn, dev, site)
            put(
                conn,
                dev,
                WATER,
                [(utc("2025-06-10 06:00") + timedelta(hours=h), step * h) for h in range(30)],
            )
        refresh(conn)
        query = (
            "SELECT bucket, dev_eui, channel, consumption FROM icone_consumption("
            "%s, %s, %s, NULL, %s, NULL, %s) ORDER BY 1, 2, 3"
        )
        window = (utc("2025-06-10 00:00"), utc("2025-07-01 00:00"), bucket)
        every = conn.execute(query, (*window, WATER, None)).fetchall()
        two = conn.execute(query, (*window, WATER, [B, c])).fetchall()
        none = conn.execute(query, (*window, WATER, ["ffff000000000000"])).fetchall()
    assert {r[1] for r in every} == {A, B, c}
    assert two == [r for r in every if r[1] in (B, c)]
    assert none == []


def test_daily_rows_given_by_the_caller_give_the_same_figures(store: str) -> None:
    """p_daily (migration 0016): the daily rows from a week before the window on, as the
    figure cache's live part hands them over. A's last reading before the window is among
    them; B's (silent for 10 days before the window) is not, and is looked up. Hand values:
    A +1 m3 an hour from June 5 00:00 local to June 12 06:00 local, window June 12 local:
    6 m3 on the 12th; B 100 m3 read on June 1 12:00 local, then 160 m3 on June 12 04:00
    local: 60 m3 over 256 h, of which the 4 h of the 12th: 0.9375 m3."""
    day = (utc("2025-06-11 22:00"), utc("2025-06-12 22:00"))
    with _conn(store) as conn:
        add_device(conn, A, "site-a")
        add_device(conn, B, "site-a")
        start = utc("2025-06-04 22:00")
        put(conn, A, WATER, [(start + timedelta(hours=h), float(h)) for h in range(7 * 24 + 7)])
        put(conn, B, WATER, [(utc("2025-06-01 10:00"), 100.0), (utc("2025-06-12 02:00"), 160.0)])
        refresh(conn)
        daily = (
            "ARRAY(SELECT ROW(a.bucket, a.dev_eui, a.metric, a.channel, a.n, a.first_t, "
            "a.first_v, a.last_t, a.last_v, a.min_v, a.max_v, a.sum_v)::icone_daily_row "
            "FROM measurements_daily_current a WHERE a.bucket >= %s::timestamptz - interval "
            "'7 days')"
        )
        query = (
            "SELECT dev_eui, consumption FROM icone_consumption(%s, %s, 'day', NULL, %s, NULL, "
            "%s, {}) ORDER BY 1"
        )
        read = conn.execute(query.format("NULL"), (*day, WATER, [A, B])).fetchall()
        given = conn.execute(query.format(daily), (*day, WATER, [A, B], day[0])).fetchall()
        before = conn.execute(
            "SELECT dev_eui FROM measurements_daily_current WHERE bucket < %s "
            "AND bucket >= %s::timestamptz - interval '7 days' GROUP BY 1",
            (day[0], day[0]),
        ).fetchall()
    assert before == [(A,)]  # B's last reading before the window is outside the rows given
    assert given == read
    assert [d for d, _ in given] == [A, B]
    assert [q for _, q in given] == pytest.approx([6.0, 0.9375])
